/**
 * COPY/ADD --chmod values: octal ("755", "0644") or symbolic as chmod(1) spells them
 * ("u+x,g-w", "a=rX"), applied to each copied file's own mode.
 */

import { InputError } from '../../errors.js';

export type ModeChange = (mode: number, isDir: boolean) => number;

const WHO_BITS: Record<string, number> = { u: 0o4700, g: 0o2070, o: 0o1007, a: 0o7777 };

function bad(spec: string): InputError {
  return new InputError('COPY_BAD_CHMOD', `invalid --chmod value: ${spec}`, {
    hint: 'use an octal mode such as 755 or a symbolic one such as u+x,g-w',
  });
}

export function parseChmod(spec: string): ModeChange {
  if (/^[0-7]{1,4}$/.test(spec)) {
    const fixed = Number.parseInt(spec, 8);
    return () => fixed;
  }
  const clauses = spec.split(',').map((clause) => {
    const m = /^([ugoa]*)([-+=])([rwxXst]*)$/.exec(clause);
    if (m === null) throw bad(spec);
    return { who: m[1] as string, op: m[2] as string, perms: m[3] as string };
  });

  return (mode, isDir) => {
    let out = mode & 0o7777;
    for (const { who, op, perms } of clauses) {
      let mask = 0;
      for (const w of who === '' ? 'a' : who) mask |= WHO_BITS[w] ?? 0;
      let bits = 0;
      for (const p of perms) {
        if (p === 'r') bits |= 0o444;
        else if (p === 'w') bits |= 0o222;
        else if (p === 'x') bits |= 0o111;
        else if (p === 'X' && (isDir || (mode & 0o111) !== 0)) bits |= 0o111;
        else if (p === 's') bits |= 0o6000;
        else if (p === 't') bits |= 0o1000;
      }
      bits &= mask;
      if (op === '+') out |= bits;
      else if (op === '-') out &= ~bits;
      else out = (out & ~mask) | bits;
    }
    return out;
  };
}
