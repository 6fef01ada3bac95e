import { literalOfPartitionText, literalOfTypedValue } from '../../src/clickhouse/partition-values';
import { quoteString } from '../../src/clickhouse/sql';

const HOSTILE = ["'", "'a'", '\\', "')", "'); DROP TABLE bystander; --", "'' OR 1", "x'y", 'a\\b'];

describe('partition literals from the text system.parts shows', () => {
  it('writes numbers, quoted strings and tuples of them again', () => {
    expect(literalOfPartitionText('202401')).toBe('202401');
    expect(literalOfPartitionText('-3')).toBe('-3');
    expect(literalOfPartitionText("'it\\'s'")).toBe(quoteString("it's"));
    expect(literalOfPartitionText("(202401,'a\\\\b')")).toBe(`(202401, ${quoteString('a\\b')})`);
  });

  it('reads nothing from a text that is not a plain literal: an unquoted value, or SQL', () => {
    for (const text of [...HOSTILE, "'' OR 1", "'a') OR (1", '1 OR 1', "('a', 1) OR 1", '2024-01-01', "it's, 0", 'nan', '(1)']) {
      const literal = literalOfPartitionText(text);
      // Either nothing, or one quoted string: never the text's own SQL.
      if (literal !== null) expect([text, /^'(?:[^'\\]|\\.)*'$/.test(literal)]).toEqual([text, true]);
    }
    expect(literalOfPartitionText("'' OR 1")).toBeNull();
    expect(literalOfPartitionText("'a') OR (1")).toBeNull();
  });
});

describe('partition literals from typed values', () => {
  it('quotes every String value, whatever it holds', () => {
    for (const value of HOSTILE) expect(literalOfTypedValue(value, 'String')).toBe(quoteString(value));
  });

  it('writes numbers bare only when they read as numbers, and tuples element by element', () => {
    expect(literalOfTypedValue('18446744073709551615', 'UInt64')).toBe('18446744073709551615');
    expect(literalOfTypedValue('1 OR 1', 'UInt64')).toBeNull();
    expect(literalOfTypedValue('2024-01-01', 'Date')).toBe("'2024-01-01'");
    expect(literalOfTypedValue(["'); DROP", -2], 'Tuple(String, Int32)')).toBe(`(${quoteString("'); DROP")}, -2)`);
    expect(literalOfTypedValue({ s: 'a', n: 1 }, 'Tuple(s String, n Int32)')).toBe("('a', 1)");
    expect(literalOfTypedValue(null, 'Nullable(String)')).toBeNull();
    expect(literalOfTypedValue(['a'], 'Array(String)')).toBeNull();
  });
});
