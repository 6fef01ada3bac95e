import { plainRule } from '../fuzz/banner';

describe('plainRule: schemathesis output as the fuzz step prints it', () => {
  it('turns the pytest-style closing banner into a heading without "in Ns"', () => {
    const line = '============================= 1 warning in 58.56s ==============================';
    expect(plainRule(line)).toBe('-- schemathesis: 1 warning, after 58.56 s --');
    expect(plainRule(line)).not.toMatch(/\bin [\d.]+s\b/);
  });

  it('turns a section rule into a plain heading', () => {
    expect(plainRule('=================================== SUMMARY ===================================='))
      .toBe('-- schemathesis: SUMMARY --');
  });

  it('leaves every other line as it is', () => {
    for (const line of ['  Test cases:', '1719 generated, 1719 passed, 10 skipped', '', '━━━━━━━━']) {
      expect(plainRule(line)).toBe(line);
    }
  });
});
