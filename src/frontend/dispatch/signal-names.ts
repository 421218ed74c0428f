/**
 * The signal names Docker accepts in STOPSIGNAL on Linux (its signal map): the kernel's signals
 * under their usual names and aliases, and the real-time ones as RTMIN+N and RTMAX-N.
 */
const NAMES = new Set([
  'ABRT',
  'ALRM',
  'BUS',
  'CHLD',
  'CLD',
  'CONT',
  'FPE',
  'HUP',
  'ILL',
  'INT',
  'IO',
  'IOT',
  'KILL',
  'PIPE',
  'POLL',
  'PROF',
  'PWR',
  'QUIT',
  'SEGV',
  'STKFLT',
  'STOP',
  'SYS',
  'TERM',
  'TRAP',
  'TSTP',
  'TTIN',
  'TTOU',
  'URG',
  'USR1',
  'USR2',
  'VTALRM',
  'WINCH',
  'XCPU',
  'XFSZ',
  'RTMIN',
  'RTMAX',
  ...Array.from({ length: 15 }, (_, i) => `RTMIN+${i + 1}`),
  ...Array.from({ length: 14 }, (_, i) => `RTMAX-${i + 1}`),
]);

/**
 * Whether Docker would take `text` as a stop signal: a number other than 0, or a name in any
 * case, with or without `SIG`.
 */
export function isSignal(text: string): boolean {
  if (/^[0-9]+$/.test(text)) return Number(text) !== 0;
  const name = text.toUpperCase();
  return NAMES.has(name.startsWith('SIG') ? name.slice(3) : name);
}
