/**
 * The one place where values become SQL text.
 *
 * ClickHouse 18.16 has no query parameters, so every identifier and literal that reaches a
 * query goes through these helpers. Both escape backslashes and their own quote character with
 * a backslash, which is how ClickHouse's lexer reads backticked identifiers and quoted strings
 * on every version from 18.x to 25.x.
 */

const ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  '\0': '\\0',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

function escapeWith(value: string, quote: '`' | "'"): string {
  let out = '';
  for (const ch of value) {
    if (ch === quote) out += `\\${quote}`;
    else out += ESCAPES[ch] ?? ch;
  }
  return out;
}

/** Quotes an identifier (database, table or column name) with backticks. */
export function quoteIdentifier(name: string): string {
  if (name.length === 0) throw new Error('an identifier cannot be empty');
  return `\`${escapeWith(name, '`')}\``;
}

/** Quotes a string literal with single quotes. */
export function quoteString(value: string): string {
  return `'${escapeWith(value, "'")}'`;
}

/** `db`.`table`, both parts quoted. */
export function qualifiedName(database: string, table: string): string {
  return `${quoteIdentifier(database)}.${quoteIdentifier(table)}`;
}

/** A comma-separated list of quoted strings, for `IN (...)`. */
export function quoteStringList(values: readonly string[]): string {
  return values.map(quoteString).join(', ');
}

/**
 * Reads one identifier, bare or quoted (backticks or double quotes, backslash escapes), from the
 * start of `text`. Returns the unquoted name and the rest of the text, or null when `text` does
 * not start with an identifier.
 */
export function readIdentifier(text: string): { name: string; rest: string } | null {
  const bare = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text);
  if (bare) return { name: bare[0], rest: text.slice(bare[0].length) };
  if (text[0] !== '`' && text[0] !== '"') return null;
  const read = readQuoted(text);
  return read && { name: read.value, rest: read.rest };
}

/**
 * Reads one '…' string literal (backslash escapes, doubled quotes) from the start of `text`.
 * Returns its value and the rest of the text, or null when `text` does not start with one.
 */
export function readStringLiteral(text: string): { value: string; rest: string } | null {
  return text[0] === "'" ? readQuoted(text) : null;
}

/** Reads the quoted token that opens `text` with its first character as the quote. */
function readQuoted(text: string): { value: string; rest: string } | null {
  const quote = text[0];
  const unescape: Record<string, string> = { '0': '\0', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
  let value = '';
  for (let i = 1; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\' && i + 1 < text.length) {
      const next = text[++i];
      value += unescape[next] ?? next;
    } else if (ch === quote) {
      if (text[i + 1] === quote) {
        value += quote;
        i++;
      } else {
        return { value, rest: text.slice(i + 1) };
      }
    } else {
      value += ch;
    }
  }
  return null;
}

/**
 * `text` with every quoted string or identifier, and everything inside parentheses, blanked out
 * to spaces. Indexes stay where they were, so a match in the mask is a match at the top level of
 * `text`: that is how clauses and separators are found without a full SQL parser.
 */
export function maskNested(text: string): string {
  let out = '';
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === '\\' && i + 1 < text.length) {
        out += '  ';
        i++;
        continue;
      }
      if (ch === quote) quote = null;
      out += ' ';
      continue;
    }
    if (ch === "'" || ch === '`' || ch === '"') {
      quote = ch;
      out += ' ';
    } else if (ch === '(') {
      out += depth === 0 ? ch : ' ';
      depth++;
    } else if (ch === ')') {
      depth = Math.max(0, depth - 1);
      out += depth === 0 ? ch : ' ';
    } else {
      out += depth === 0 ? ch : ' ';
    }
  }
  return out;
}

/** Splits `text` at each top-level `separator` (outside quotes and parentheses); parts are trimmed. */
export function splitTopLevel(text: string, separator: string): string[] {
  const mask = maskNested(text);
  const parts: string[] = [];
  let from = 0;
  for (let i = mask.indexOf(separator); i !== -1; i = mask.indexOf(separator, i + separator.length)) {
    parts.push(text.slice(from, i).trim());
    from = i + separator.length;
  }
  parts.push(text.slice(from).trim());
  return parts;
}
