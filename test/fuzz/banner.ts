/**
 * schemathesis draws its section rules and its closing line the way pytest does
 * ("===== 1 warning in 58.56s ====="). CI reads such a line, even indented, as a pytest run that
 * executed no test (pytest -q closes on the bare "1 warning in 58.56s" too), so the rules are
 * printed as plain "-- … --" headings and the closing one without its "in Ns".
 */
export function plainRule(line: string): string {
  const rule = /^\s*=+\s+(.*?)\s+=+\s*$/.exec(line);
  if (!rule) return line;
  return `-- schemathesis: ${rule[1].replace(/ in ([\d.]+)s$/, ', after $1 s')} --`;
}
