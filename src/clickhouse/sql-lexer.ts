/**
 * ClickHouse SQL text as tokens, the way ClickHouse's own lexer (src/Parsers/Lexer.cpp) reads it:
 * enough to find statement boundaries and names without a grammar.
 */
import { readIdentifier } from './sql';

/** Thrown when a text cannot be split: an unterminated string, quoted identifier or block comment. */
export class StatementSyntaxError extends Error {
  constructor(
    message: string,
    /** Where (in UTF-16 code units) the unterminated token starts. */
    readonly offset: number,
  ) {
    super(message);
    this.name = 'StatementSyntaxError';
  }
}

/** One lexical token; `start` and `end` index the text it came from (`end` exclusive). */
export interface Token {
  kind: 'word' | 'quoted' | 'string' | 'number' | 'punct' | 'comment' | 'space';
  text: string;
  start: number;
  end: number;
}

const WORD_START = /[A-Za-z_$]/;
const WORD_CHAR = /[A-Za-z0-9_$]/;
const SPACE = /\s/u;
const NUMBER = /0[xX][0-9A-Fa-f]+|[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?/y;

/** The end of the quoted token opening at `start` (backslash escapes and doubled quotes), or -1. */
function quotedEnd(sql: string, start: number): number {
  const quote = sql[start];
  for (let i = start + 1; i < sql.length; i++) {
    if (sql[i] === '\\') i++;
    else if (sql[i] === quote) {
      if (sql[i + 1] !== quote) return i + 1;
      i++;
    }
  }
  return -1;
}

/**
 * The end of the block comment opening at `start`, or -1. Comments nest, as in ClickHouse's lexer
 * (and the SQL standard): `/* a /* b *\/ c *\/` is one comment.
 */
function blockCommentEnd(sql: string, start: number): number {
  let depth = 0;
  for (let i = start; i < sql.length - 1; i++) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth++;
      i++;
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth--;
      i++;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

function lineEnd(sql: string, start: number): number {
  const newline = sql.indexOf('\n', start);
  return newline === -1 ? sql.length : newline;
}

/** The end of a heredoc (`$tag$ … $tag$`) opening at `start`, or -1 when there is none. */
function heredocEnd(sql: string, start: number): number {
  const tagEnd = sql.indexOf('$', start + 1);
  if (tagEnd === -1) return -1;
  const tag = sql.slice(start, tagEnd + 1);
  const close = sql.indexOf(tag, tagEnd + 1);
  return close === -1 ? -1 : close + tag.length;
}

const UNTERMINATED: Record<string, string> = {
  "'": 'unterminated string',
  '`': 'unterminated quoted identifier',
  '"': 'unterminated quoted identifier',
};

/**
 * The tokens of `sql`, covering it without gaps. Words include keywords and bare identifiers;
 * `quoted` are identifiers in backticks or double quotes; `string` are '…' literals and heredocs.
 * Anything else that is not a number, a comment or white space is a one-character `punct`.
 */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const push = (kind: Token['kind'], end: number) => {
    tokens.push({ kind, text: sql.slice(i, end), start: i, end });
    i = end;
  };
  while (i < sql.length) {
    const ch = sql[i];
    const next = sql[i + 1];
    if (SPACE.test(ch)) {
      let end = i + 1;
      while (end < sql.length && SPACE.test(sql[end])) end++;
      push('space', end);
    } else if ((ch === '-' && next === '-') || (ch === '/' && next === '/') || (ch === '#' && (next === ' ' || next === '!'))) {
      push('comment', lineEnd(sql, i));
    } else if (ch === '/' && next === '*') {
      const end = blockCommentEnd(sql, i);
      if (end === -1) throw new StatementSyntaxError(`unterminated block comment at offset ${i}`, i);
      push('comment', end);
    } else if (ch === "'" || ch === '`' || ch === '"') {
      const end = quotedEnd(sql, i);
      if (end === -1) throw new StatementSyntaxError(`${UNTERMINATED[ch]} at offset ${i}`, i);
      push(ch === "'" ? 'string' : 'quoted', end);
    } else if (ch === '$' && heredocEnd(sql, i) !== -1) {
      push('string', heredocEnd(sql, i));
    } else if (/[0-9]/.test(ch)) {
      NUMBER.lastIndex = i;
      const number = NUMBER.exec(sql) as RegExpExecArray;
      let end = i + number[0].length;
      if (end < sql.length && WORD_CHAR.test(sql[end]) && !number[0].includes('.')) {
        while (end < sql.length && WORD_CHAR.test(sql[end])) end++;
        push('word', end);
      } else {
        push('number', end);
      }
    } else if (WORD_START.test(ch)) {
      let end = i + 1;
      while (end < sql.length && WORD_CHAR.test(sql[end])) end++;
      push('word', end);
    } else {
      push('punct', i + String.fromCodePoint(sql.codePointAt(i) as number).length);
    }
  }
  return tokens;
}

/** Whether a token means something (is not white space or a comment). */
export function isSignificant(token: Token): boolean {
  return token.kind !== 'space' && token.kind !== 'comment';
}

/** Whether a token is an identifier, bare or quoted. */
export function isIdentifier(token: Token | undefined): token is Token {
  return token !== undefined && (token.kind === 'word' || token.kind === 'quoted');
}

/** The unquoted name of an identifier token. */
export function identifierName(token: Token): string {
  return token.kind === 'quoted' ? (readIdentifier(token.text) as { name: string }).name : token.text;
}

