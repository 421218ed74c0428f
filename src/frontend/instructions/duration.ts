/** Go's time.ParseDuration, returning milliseconds (fractions kept). */

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

export function parseGoDuration(s: string): number {
  const orig = s;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    sign = s[0] === '-' ? -1 : 1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw new Error(`time: invalid duration "${orig}"`);
  let total = 0;
  const re = /^([0-9]*(?:\.[0-9]*)?)([a-zµμ]+)/;
  while (s !== '') {
    const m = re.exec(s);
    if (m === null || m[1] === '' || m[1] === '.')
      throw new Error(`time: invalid duration "${orig}"`);
    const unit = UNITS[m[2]!];
    if (unit === undefined) throw new Error(`time: unknown unit "${m[2]}" in duration "${orig}"`);
    total += Number(m[1]) * unit;
    s = s.slice(m[0].length);
  }
  return sign * total;
}
