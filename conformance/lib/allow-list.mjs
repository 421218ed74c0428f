/**
 * The "Deliberate differences" of docs/conformance.md, one bullet each:
 *   - `case-or-*` `subject-glob` `attr-or-*` — reason
 * The case is a name or a glob (`run-mount-*`); in the subject glob `*` matches within one path
 * segment, `**` across segments.
 */
import * as fsp from 'node:fs/promises';

export async function readAllowList(docPath) {
  const text = await fsp.readFile(docPath, 'utf8');
  const section = text.split(/^## /m).find((s) => s.startsWith('Deliberate differences')) ?? '';
  const rules = [];
  for (const line of section.split('\n')) {
    const m = /^- `([^`]+)` `([^`]+)` `([^`]+)`\s+(?:—|--|-)\s*(\S.*)$/.exec(line);
    if (m) rules.push({ kase: glob(m[1]), subject: glob(m[2]), attr: m[3], reason: m[4] });
  }
  return rules;
}

function glob(pattern) {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*\*/g, '\u0000')
    .replace(/\*/g, '[^/]*');
  return new RegExp(`^${re.replace(/\u0000/g, '.*').replace(/\?/g, '.')}$`);
}

/** The rule that explains a difference of a case, if any. */
export function allowed(rules, kase, d) {
  return rules.find(
    (r) => r.kase.test(kase) && r.subject.test(d.subject) && (r.attr === '*' || r.attr === d.attr),
  );
}
