/**
 * ClickHouse SQL statement text, read lexically: split a text into its statements, point a
 * statement at another database, and tell what a statement changes. There is no grammar here,
 * only tokens (./sql-lexer) and the leading keywords of each kind of statement.
 */
import { quoteIdentifier } from './sql';
import { identifierName, isIdentifier, isSignificant, tokenize, type Token } from './sql-lexer';

export { StatementSyntaxError, tokenize, type Token } from './sql-lexer';

/**
 * The statements of a text, in order: split at each `;` outside strings ('…' with backslash and
 * doubled-quote escapes, and `$tag$…$tag$` heredocs), quoted identifiers (`…` and "…"), line
 * comments (`--`, `//`, and `# ` or `#!`, to the end of the line) and block comments. Block
 * comments nest, as ClickHouse's lexer reads them. Each statement is trimmed and has no `;`;
 * pieces holding only comments and white space are dropped.
 * @throws StatementSyntaxError when a string, quoted identifier or block comment is not closed.
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let from = 0;
  let significant = false;
  const cut = (to: number) => {
    if (significant) statements.push(sql.slice(from, to).trim());
    significant = false;
  };
  for (const token of tokenize(sql)) {
    if (token.kind === 'punct' && token.text === ';') {
      cut(token.start);
      from = token.end;
    } else if (isSignificant(token)) {
      significant = true;
    }
  }
  cut(sql.length);
  return statements;
}

/**
 * `statement` with every qualifier naming database `from` (an identifier, bare or quoted, whose
 * next significant tokens are `.` and an identifier) rewritten to `to`, quoted with
 * quoteIdentifier. Strings, comments and other identifiers are untouched; `from` is matched
 * exactly (case-sensitively, as ClickHouse compares names). Names inside strings, such as the
 * arguments of `dictGet('db.dict', …)` or `remote(…, 'db', 't')`, are not qualifiers and stay.
 */
export function redirectDatabase(statement: string, from: string, to: string): string {
  const tokens = tokenize(statement).filter(isSignificant);
  const replaced = new Set<Token>();
  tokens.forEach((token, i) => {
    const dot = tokens[i + 1];
    if (isIdentifier(token) && identifierName(token) === from && dot?.text === '.' && isIdentifier(tokens[i + 2])) replaced.add(token);
  });
  let out = '';
  let at = 0;
  for (const token of replaced) {
    out += statement.slice(at, token.start) + quoteIdentifier(to);
    at = token.end;
  }
  return out + statement.slice(at);
}


/** A table, view or dictionary as a statement names it (unquoted). */
export interface ObjectRef {
  /** null when the statement does not qualify the name. */
  database: string | null;
  name: string;
}

/** What one statement does, as far as its leading keywords and names tell. */
export interface StatementInfo {
  /** Upper-cased leading keyword(s): 'CREATE TABLE', 'CREATE MATERIALIZED VIEW', 'ALTER TABLE', 'INSERT', 'DROP TABLE', 'RENAME TABLE', 'TRUNCATE', 'OPTIMIZE', 'SELECT', 'GRANT', 'CREATE DATABASE', … */
  kind: string;
  /**
   * 'database': changes the objects (tables, views, dictionaries) named in `writes`; 'read': only
   * reads (SELECT, WITH, SHOW, DESCRIBE/DESC, EXISTS, EXPLAIN, CHECK, WATCH); 'outside': changes
   * something no database restore point covers (users, roles, grants, quotas, settings profiles,
   * SET, USE, SYSTEM, KILL, databases themselves, INSERT INTO FUNCTION, BACKUP/RESTORE, and
   * anything not recognised).
   */
  scope: 'database' | 'read' | 'outside';
  /** Objects the statement creates, changes, fills or removes. */
  writes: ObjectRef[];
  /**
   * Statements that rewrite stored data: 'mutation' for ALTER … UPDATE / DELETE, DELETE FROM and
   * UPDATE (it wins when an ALTER also modifies a column), 'modify-column' when an ALTER holds
   * MODIFY COLUMN with a type; null otherwise.
   */
  heavy: 'mutation' | 'modify-column' | null;
  /** For each MODIFY COLUMN that gives a type: the column's name and the type's text. */
  modifiedColumns: { name: string; type: string }[];
}

const READS = new Set(['SELECT', 'WITH', 'SHOW', 'DESCRIBE', 'DESC', 'EXISTS', 'EXPLAIN', 'CHECK', 'WATCH']);
/** Verbs whose kind names the object too ('CREATE USER', 'DROP DATABASE'). */
const OBJECT_VERBS = new Set(['CREATE', 'ALTER', 'DROP', 'ATTACH', 'DETACH', 'RENAME', 'EXCHANGE', 'UNDROP', 'REPLACE', 'TRUNCATE']);
const TWO_WORD_OBJECTS = new Set(['ROW POLICY', 'SETTINGS PROFILE', 'NAMED COLLECTION', 'MASKING POLICY']);
const CREATED_OBJECTS = ['MATERIALIZED VIEW', 'LIVE VIEW', 'WINDOW VIEW', 'TABLE', 'VIEW', 'DICTIONARY'];
const MODIFY_COLUMN_STOPS = new Set(['DEFAULT', 'MATERIALIZED', 'ALIAS', 'EPHEMERAL', 'CODEC', 'TTL', 'COMMENT', 'FIRST', 'AFTER', 'SETTINGS', 'REMOVE', 'MODIFY', 'RESET']);

/** A cursor over the significant tokens of one statement. */
class Cursor {
  at = 0;
  constructor(readonly tokens: Token[]) {}

  /** The upper-cased word `ahead` tokens on, or null when that token is not a word. */
  word(ahead = 0): string | null {
    const token = this.tokens[this.at + ahead];
    return token?.kind === 'word' ? token.text.toUpperCase() : null;
  }

  /** Moves past `words` when the next tokens are exactly those words; otherwise stays. */
  accept(words: string): boolean {
    const list = words.split(' ');
    if (!list.every((word, i) => this.word(i) === word)) return false;
    this.at += list.length;
    return true;
  }

  /** The first of `phrases` that comes next, moved past; null when none does. */
  acceptOne(phrases: readonly string[]): string | null {
    return phrases.find((phrase) => this.accept(phrase)) ?? null;
  }

  /** Reads `name` or `database.name`, bare or quoted. */
  name(): ObjectRef | null {
    const first = this.tokens[this.at];
    if (!isIdentifier(first)) return null;
    const second = this.tokens[this.at + 2];
    if (this.tokens[this.at + 1]?.text === '.' && isIdentifier(second)) {
      this.at += 3;
      return { database: identifierName(first), name: identifierName(second) };
    }
    this.at += 1;
    return { database: null, name: identifierName(first) };
  }

  /** Reads `name[, name…]`. */
  names(): ObjectRef[] {
    const names: ObjectRef[] = [];
    for (let name = this.name(); name; name = this.tokens[this.at]?.text === ',' ? (this.at++, this.name()) : null) names.push(name);
    return names;
  }

  /** The tokens from here to the end, in groups separated by top-level commas. */
  commaGroups(): Token[][] {
    const groups: Token[][] = [[]];
    let depth = 0;
    for (const token of this.tokens.slice(this.at)) {
      if (token.text === '(' || token.text === '[') depth++;
      else if (token.text === ')' || token.text === ']') depth--;
      if (depth === 0 && token.text === ',') groups.push([]);
      else groups[groups.length - 1].push(token);
    }
    return groups;
  }
}

/** The kind of a statement that is not otherwise recognised: its verb, and for DDL the object. */
function unrecognisedKind(verb: string, cursor: Cursor): string {
  if (!OBJECT_VERBS.has(verb)) return verb;
  const pair = `${cursor.word()} ${cursor.word(1)}`;
  if (TWO_WORD_OBJECTS.has(pair)) return `${verb} ${pair}`;
  return cursor.word() ? `${verb} ${cursor.word()}` : verb;
}

/** `TO target` of a materialized view: the first top-level TO (not TTL's TO DISK/VOLUME 'x') before AS. */
function materializedViewTarget(cursor: Cursor): ObjectRef | null {
  let depth = 0;
  for (let i = cursor.at; i < cursor.tokens.length; i++) {
    const token = cursor.tokens[i];
    if (token.text === '(') depth++;
    else if (token.text === ')') depth--;
    if (depth !== 0 || token.kind !== 'word') continue;
    const word = token.text.toUpperCase();
    if (word === 'AS') return null;
    const storage = cursor.tokens[i + 1]?.text.toUpperCase();
    if (word === 'TO' && !((storage === 'DISK' || storage === 'VOLUME') && cursor.tokens[i + 2]?.kind === 'string')) {
      const rest = new Cursor(cursor.tokens);
      rest.at = i + 1;
      return rest.name();
    }
  }
  return null;
}

/** What the actions of `ALTER TABLE name …` (the cursor just past the name) write and rewrite. */
function alterActions(statement: string, cursor: Cursor): Pick<StatementInfo, 'writes' | 'heavy' | 'modifiedColumns'> {
  const writes: ObjectRef[] = [];
  const modifiedColumns: StatementInfo['modifiedColumns'] = [];
  let mutation = false;
  for (const action of cursor.commaGroups()) {
    const words = new Cursor(action);
    if (words.accept('UPDATE') || words.accept('DELETE')) mutation = true;
    else if (words.accept('MODIFY COLUMN')) {
      words.accept('IF EXISTS');
      const column = action[words.at];
      if (!isIdentifier(column)) continue;
      let end = words.at + 1;
      for (let depth = 0; end < action.length; end++) {
        if (action[end].text === '(') depth++;
        else if (action[end].text === ')') depth--;
        else if (depth === 0 && action[end].kind === 'word' && MODIFY_COLUMN_STOPS.has(action[end].text.toUpperCase())) break;
      }
      if (end > words.at + 1) {
        modifiedColumns.push({ name: identifierName(column), type: statement.slice(action[words.at + 1].start, action[end - 1].end) });
      }
    } else if (words.accept('MOVE')) {
      for (; words.at < action.length; words.at++) {
        if (words.accept('TO TABLE')) {
          const target = words.name();
          if (target) writes.push(target);
          break;
        }
      }
    }
  }
  return { writes, heavy: mutation ? 'mutation' : modifiedColumns.length > 0 ? 'modify-column' : null, modifiedColumns };
}

/**
 * What `statement` (one statement, as splitStatements gives it) does: its kind, whether it
 * changes objects of a database, only reads, or changes something outside any database, and the
 * objects it writes. Keywords are case-insensitive; IF [NOT] EXISTS, OR REPLACE, TEMPORARY and
 * ON CLUSTER are understood.
 */
export function describeStatement(statement: string): StatementInfo {
  const tokens = tokenize(statement).filter(isSignificant);
  let lead = 0;
  while (tokens[lead]?.text === '(') lead++;
  const cursor = new Cursor(tokens.slice(lead));
  const verb = cursor.word() ?? tokens[0]?.text ?? '';
  cursor.at = 1;
  const result = (kind: string, writes: ObjectRef[], more: Partial<StatementInfo> = {}): StatementInfo => ({
    kind,
    scope: 'database',
    writes,
    heavy: null,
    modifiedColumns: [],
    ...more,
  });
  const outside = (kind: string): StatementInfo => result(kind, [], { scope: 'outside' });
  const named = (kind: string): StatementInfo => {
    const name = cursor.name();
    return result(kind, name ? [name] : []);
  };
  /** `CREATE INDEX [IF NOT EXISTS] i ON t …`, `DROP INDEX [IF EXISTS] i ON t` (newer servers): they change the table `t`. */
  const indexStatement = (kind: string, guard: string): StatementInfo => {
    cursor.accept('INDEX');
    cursor.accept(guard);
    cursor.name();
    if (!cursor.accept('ON')) return outside(kind);
    const table = cursor.name();
    return result(kind, table ? [table] : []);
  };

  if (READS.has(verb)) return result(verb, [], { scope: 'read' });
  switch (verb) {
    case 'CREATE':
    case 'ATTACH':
    case 'REPLACE': {
      cursor.accept('OR REPLACE');
      cursor.accept('TEMPORARY');
      if (verb === 'CREATE' && cursor.word() === 'INDEX') return indexStatement('CREATE INDEX', 'IF NOT EXISTS');
      const object = cursor.acceptOne(CREATED_OBJECTS);
      if (!object) return outside(unrecognisedKind(verb, cursor));
      cursor.accept('IF NOT EXISTS');
      const name = cursor.name();
      const target = object === 'MATERIALIZED VIEW' ? materializedViewTarget(cursor) : null;
      return result(`${verb} ${object}`, [name, target].filter((ref): ref is ObjectRef => ref !== null));
    }
    case 'DROP':
    case 'DETACH':
    case 'UNDROP': {
      cursor.accept('TEMPORARY');
      if (verb === 'DROP' && cursor.word() === 'INDEX') return indexStatement('DROP INDEX', 'IF EXISTS');
      const object = cursor.acceptOne(['TABLE', 'VIEW', 'DICTIONARY']);
      if (!object) return outside(unrecognisedKind(verb, cursor));
      cursor.accept('IF EXISTS');
      return result(`${verb} ${object}`, cursor.names());
    }
    case 'ALTER': {
      cursor.accept('TEMPORARY');
      const object = cursor.acceptOne(['TABLE', 'LIVE VIEW']);
      if (!object) return outside(unrecognisedKind(verb, cursor));
      const name = cursor.name();
      if (cursor.accept('ON CLUSTER')) cursor.at++;
      const actions = alterActions(statement, cursor);
      return result(`ALTER ${object}`, name ? [name, ...actions.writes] : actions.writes, { heavy: actions.heavy, modifiedColumns: actions.modifiedColumns });
    }
    case 'INSERT':
      cursor.accept('INTO');
      cursor.accept('TABLE');
      return cursor.word() === 'FUNCTION' ? outside('INSERT INTO FUNCTION') : named('INSERT');
    case 'RENAME': {
      const object = cursor.acceptOne(['TABLE', 'DICTIONARY']);
      if (!object) return outside(unrecognisedKind(verb, cursor));
      const writes: ObjectRef[] = [];
      do {
        const from = cursor.name();
        cursor.accept('TO');
        const to = cursor.name();
        for (const ref of [from, to]) if (ref) writes.push(ref);
      } while (cursor.tokens[cursor.at]?.text === ',' && cursor.at++);
      return result(`RENAME ${object}`, writes);
    }
    case 'EXCHANGE': {
      const object = cursor.acceptOne(['TABLES', 'DICTIONARIES']);
      if (!object) return outside(unrecognisedKind(verb, cursor));
      const first = cursor.name();
      cursor.accept('AND');
      const second = cursor.name();
      return result(`EXCHANGE ${object}`, [first, second].filter((ref): ref is ObjectRef => ref !== null));
    }
    case 'TRUNCATE':
      cursor.accept('TEMPORARY');
      cursor.accept('TABLE');
      if (cursor.word() === 'DATABASE' || cursor.word() === 'ALL') return outside(unrecognisedKind(verb, cursor));
      cursor.accept('IF EXISTS');
      return named('TRUNCATE');
    case 'OPTIMIZE':
      cursor.accept('TABLE');
      return named('OPTIMIZE');
    case 'DELETE':
      cursor.accept('FROM');
      return { ...named('DELETE'), heavy: 'mutation' };
    case 'UPDATE':
      return { ...named('UPDATE'), heavy: 'mutation' };
    default:
      return outside(unrecognisedKind(verb, cursor));
  }
}

/** Words whose next string literal is a credential (dictionary sources, named collections, users): `PASSWORD 'x'`. */
const SECRET_WORDS = new Set(['PASSWORD', 'SECRET', 'SECRET_ACCESS_KEY', 'ACCESS_KEY_ID', 'SESSION_TOKEN', 'ACCOUNT_KEY', 'BEARER_TOKEN']);
/**
 * Table functions that take credentials, and which of their arguments (from 0) may hold them:
 * `remote(address, db, table, user, password)`, `s3(url, key id, secret, …)` and the like.
 */
const CREDENTIAL_ARGUMENTS = new Map<string, [number, number]>([
  ['REMOTE', [3, 4]],
  ['REMOTESECURE', [3, 4]],
  ['MYSQL', [3, 4]],
  ['POSTGRESQL', [3, 4]],
  ['MONGODB', [3, 4]],
  ['REDIS', [4, 4]],
  ['S3', [1, 2]],
  ['GCS', [1, 2]],
  ['OSS', [1, 2]],
  ['COSN', [1, 2]],
  ['S3CLUSTER', [2, 3]],
  ['AZUREBLOBSTORAGE', [3, 4]],
]);

/**
 * The string literals of a statement that may be credentials: the one after `PASSWORD` (and the
 * like), and the user, password or key arguments of a table function that connects elsewhere
 * (`remote`, `mysql`, `s3`…). Messages and logs that quote a user's statement leave them out.
 */
export function secretLiterals(statement: string): Token[] {
  const tokens = tokenize(statement).filter(isSignificant);
  const secrets: Token[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const word = tokens[i].kind === 'word' ? tokens[i].text.toUpperCase() : null;
    if (word && SECRET_WORDS.has(word)) {
      const next = tokens[i + 1]?.text === '=' ? tokens[i + 2] : tokens[i + 1];
      if (next?.kind === 'string') secrets.push(next);
    } else if (word && CREDENTIAL_ARGUMENTS.has(word) && tokens[i + 1]?.text === '(') {
      const [first, last] = CREDENTIAL_ARGUMENTS.get(word) as [number, number];
      let depth = 0;
      let argument = 0;
      for (let j = i + 1; j < tokens.length; j++) {
        const text = tokens[j].text;
        if (text === '(' || text === '[') depth++;
        else if (text === ')' || text === ']') {
          if (--depth === 0) break;
        } else if (depth === 1 && text === ',') argument++;
        else if (depth === 1 && argument >= first && argument <= last && tokens[j].kind === 'string') secrets.push(tokens[j]);
      }
    }
  }
  return secrets;
}

/** `statement` with every {@link secretLiterals} literal shown as `'***'`. */
export function maskSecrets(statement: string): string {
  let masked = statement;
  for (const token of secretLiterals(statement).sort((a, b) => b.start - a.start)) masked = `${masked.slice(0, token.start)}'***'${masked.slice(token.end)}`;
  return masked;
}

/** The values of a statement's {@link secretLiterals}, as written and unescaped: what to redact from a server's message about it. */
export function secretValues(statement: string): string[] {
  return secretLiterals(statement).flatMap((token) => {
    const inner = token.text.slice(1, -1);
    return [inner, inner.replace(/''/g, "'").replace(/\\(.)/g, '$1')].filter((value) => value.length > 0);
  });
}
