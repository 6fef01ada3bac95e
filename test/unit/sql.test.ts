import { maskNested, qualifiedName, quoteIdentifier, quoteString, quoteStringList, readIdentifier, splitTopLevel } from '../../src/clickhouse/sql';

const HOSTILE = ["it's", 'back`tick', 'with space', 'semi;colon', 'back\\slash', 'new\nline', 'üñï 名前', "'; DROP TABLE x; --"];

describe('SQL quoting', () => {
  it.each(HOSTILE)('when an identifier is %j, quoting and reading it back gives the same name', (name) => {
    const quoted = quoteIdentifier(name);
    expect(quoted.startsWith('`') && quoted.endsWith('`')).toBe(true);
    expect(readIdentifier(`${quoted} rest`)).toEqual({ name, rest: ' rest' });
  });

  it('when an identifier holds a backtick, the backtick is escaped with a backslash', () => {
    expect(quoteIdentifier('a`b')).toBe('`a\\`b`');
  });

  it('when a string holds a quote or a backslash, both are escaped', () => {
    expect(quoteString("it's \\ done")).toBe("'it\\'s \\\\ done'");
  });

  it('when a string holds control characters, they become escape sequences', () => {
    expect(quoteString('a\nb\tc\0')).toBe("'a\\nb\\tc\\0'");
  });

  it('when an identifier is empty, quoting refuses it', () => {
    expect(() => quoteIdentifier('')).toThrow(/empty/);
  });

  it('qualifies a name with both parts quoted', () => {
    expect(qualifiedName('d b', 't`1')).toBe('`d b`.`t\\`1`');
  });

  it('quotes every element of a list', () => {
    expect(quoteStringList(['a', "b'"])).toBe("'a', 'b\\''");
  });

  it('reads bare and double-quoted identifiers, and doubled quotes', () => {
    expect(readIdentifier('events.x')).toEqual({ name: 'events', rest: '.x' });
    expect(readIdentifier('"a""b" (')).toEqual({ name: 'a"b', rest: ' (' });
    expect(readIdentifier('(x)')).toBeNull();
    expect(readIdentifier('`unterminated')).toBeNull();
  });
});

describe('top-level scanning', () => {
  it('blanks quoted text and everything inside parentheses, keeping every index in place', () => {
    const text = "f(a, 'b)') , `c,d` x";
    const mask = maskNested(text);
    expect(mask).toHaveLength(text.length);
    expect(mask).toBe('f(       ) ,       x');
  });

  it('splits server-written Values rows and their fields at top-level commas only', () => {
    const values = "('202401',5,202401),('52b2',1,(202404,'it\\'s, 1')),('20240101',2,'2024-01-01')";
    const rows = splitTopLevel(values, ',').map((row) => splitTopLevel(row.slice(1, -1), ','));
    expect(rows).toEqual([
      ["'202401'", '5', '202401'],
      ["'52b2'", '1', "(202404,'it\\'s, 1')"],
      ["'20240101'", '2', "'2024-01-01'"],
    ]);
  });
});
