import { isSignificant, tokenize, type Token } from './sql-lexer';
import { quoteString, readStringLiteral, splitTopLevel } from './sql';

/**
 * Partition values as SQL literals, always rendered here from values (never the server's text
 * passed through): a string goes through `quoteString`, a number only when it reads as one. So a
 * partition whose String value is `'); DROP TABLE …` becomes that string's literal, nothing more.
 */

/** A plain decimal or exponent number, the only number text put into SQL as it stands. */
const NUMBER = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/;

/** Numeric types, whose values are written bare. */
const NUMERIC_TYPE = /^(U?Int\d+|Float\d+|Decimal(\d+)?\(.*\))$/;

/**
 * The literal of the text `system.parts.partition` shows for a partition (`202401`, `'it\'s'`,
 * `(202401,'a')`), read as values and written again, or null when the text is not a plain number,
 * a quoted string or a tuple of them (18.16 writes a lone String or Date value unquoted).
 */
export function literalOfPartitionText(text: string): string | null {
  let tokens: Token[];
  try {
    tokens = tokenize(text).filter(isSignificant);
  } catch {
    return null;
  }
  if (tokens[0]?.text !== '(') return literalOfTokens(tokens);
  if (tokens[tokens.length - 1].text !== ')') return null;
  const elements: string[] = [];
  let from = 1;
  for (let i = 1; i < tokens.length; i++) {
    if (tokens[i].text !== ',' && i !== tokens.length - 1) continue;
    const literal = literalOfTokens(tokens.slice(from, i));
    if (literal === null) return null;
    elements.push(literal);
    from = i + 1;
  }
  return elements.length > 1 ? `(${elements.join(', ')})` : null;
}

/** One number (with its sign) or one string literal, written again; null for anything else. */
function literalOfTokens(tokens: readonly Token[]): string | null {
  if (tokens.length === 1 && tokens[0].kind === 'string') {
    const read = readStringLiteral(tokens[0].text);
    return read && read.rest === '' ? quoteString(read.value) : null;
  }
  const text = tokens.map((t) => t.text).join('');
  const numeric = tokens.every((t) => t.kind === 'number' || t.text === '-');
  return numeric && NUMBER.test(text) ? text : null;
}

/**
 * The literal of a partition key's value as the server returns it in JSON (`any(key)`), given
 * the value's type (`toTypeName`): numbers bare, every other scalar as a quoted string, tuples
 * element by element. Null when the value cannot be written back (NULL, arrays, maps).
 */
export function literalOfTypedValue(value: unknown, type: string): string | null {
  const inner = unwrapType(type);
  if (inner.startsWith('Tuple(') && inner.endsWith(')')) {
    const types = splitTopLevel(inner.slice('Tuple('.length, -1), ',');
    const values = Array.isArray(value) ? value : value !== null && typeof value === 'object' ? Object.values(value) : null;
    if (!values || values.length !== types.length || types.length < 2) return null;
    const elements = values.map((v, i) => literalOfTypedValue(v, elementType(types[i])));
    return elements.every((e) => e !== null) ? `(${elements.join(', ')})` : null;
  }
  if (typeof value !== 'string' && typeof value !== 'number') return null;
  if (NUMERIC_TYPE.test(inner)) return NUMBER.test(String(value)) ? String(value) : null;
  return typeof value === 'string' ? quoteString(value) : null;
}

/** `Nullable(T)` and `LowCardinality(T)` compare as `T`. */
function unwrapType(type: string): string {
  const wrapped = /^(?:Nullable|LowCardinality)\((.*)\)$/.exec(type.trim());
  return wrapped ? unwrapType(wrapped[1]) : type.trim();
}

/** The type of a tuple element, without its name where the tuple names them (`a String`). */
function elementType(element: string): string {
  const named = /^[A-Za-z_][A-Za-z0-9_]*\s+([A-Z].*)$/.exec(element);
  return named ? named[1] : element;
}
