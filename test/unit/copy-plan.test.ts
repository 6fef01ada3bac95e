import { GROUP_BYTES, partitionIdsOf, partRounds, planUnits, type PlannedTable } from '../../src/activities/copy-plan';

const MiB = 2 ** 20;
const partition = (id: string, mib: number, rows = 100) => ({ partitionId: id, rows, bytesOnDisk: 0, bytesUncompressed: mib * MiB });
const table = (partitions: PlannedTable['partitions'], extra: string[] = [], direct = false): PlannedTable => ({ database: 'shop', table: 'events', partitions, extraOnTarget: extra, direct });

describe('planUnits', () => {
  it('copies a small table as one unit without a condition', () => {
    const units = planUnits(table([partition('202401', 1), partition('202402', 1), partition('202403', 1)], [], true));
    expect(units).toEqual([
      { database: 'shop', table: 'events', partitioned: true, partitionId: '202401', partitionIds: ['202401', '202402', '202403'], rows: 300, bytes: 3 * MiB, direct: true, whole: true },
    ]);
  });

  it('copies large partitions one by one, so a big table still copies in parallel', () => {
    const units = planUnits(table([partition('1', 44), partition('2', 44), partition('3', 100)]));
    expect(units.map(partitionIdsOf)).toEqual([['1'], ['2'], ['3']]);
    expect(units.some((u) => u.whole)).toBe(false);
  });

  it('groups consecutive small partitions under the byte limit, and covers every partition once', () => {
    const partitions = Array.from({ length: 5000 }, (_, i) => partition(String(i).padStart(5, '0'), 0.05, 200));
    const units = planUnits(table(partitions));
    const covered = units.flatMap(partitionIdsOf);
    expect(covered).toEqual(partitions.map((p) => p.partitionId));
    expect(units.every((u) => u.bytes < GROUP_BYTES)).toBe(true);
    expect(units.length).toBe(Math.ceil((5000 * 0.05 * MiB) / GROUP_BYTES));
    expect(units.reduce((n, u) => n + u.rows, 0)).toBe(1_000_000);
  });

  it('empties partitions only the target has, in a unit of their own that never counts as the whole table', () => {
    const units = planUnits(table([partition('202401', 1)], ['202312', '202311']));
    expect(units.map((u) => [partitionIdsOf(u), u.rows, u.whole ?? false])).toEqual([
      [['202401'], 100, false],
      [['202312', '202311'], 0, false],
    ]);
  });

  it('plans nothing but the extras for a table the source has emptied', () => {
    expect(planUnits(table([], ['202401'])).map(partitionIdsOf)).toEqual([['202401']]);
  });
});

describe('partRounds', () => {
  const part = (partitionId: string, name: string) => ({ partitionId, name, rows: 1 });

  it('reads each partition\'s parts one round after the other, in the order given, at most one per partition a round', () => {
    const parts = [part('a', 'a_1_1_0'), part('a', 'a_2_2_0'), part('a', 'a_3_3_0'), part('b', 'b_4_4_0'), part('c', 'c_5_5_0'), part('c', 'c_6_6_0')];
    expect(partRounds(parts)).toEqual([['a_1_1_0', 'b_4_4_0', 'c_5_5_0'], ['a_2_2_0', 'c_6_6_0'], ['a_3_3_0']]);
  });

  it('gives one round for partitions of one part each, and none for no parts', () => {
    expect(partRounds([part('a', 'a_1_5_2'), part('b', 'b_6_6_0')])).toEqual([['a_1_5_2', 'b_6_6_0']]);
    expect(partRounds([])).toEqual([]);
  });
});
