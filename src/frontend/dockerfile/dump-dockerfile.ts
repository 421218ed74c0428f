import { dumpNode } from './ast-node.js';
import { fromByteString } from './go-string.js';
import type { ParsedDockerfile } from './instruction.js';

/**
 * The dump of BuildKit's parser tests: one `(keyword ["--flag"] "arg"...)` line per instruction.
 * Quoting is Go's strconv.Quote, so the result is ASCII-safe apart from printable runes.
 */
export function dumpDockerfile(parsed: ParsedDockerfile): string {
  let out = '';
  for (const node of parsed.ast) out += `(${dumpNode(node)})\n`;
  return fromByteString(out);
}
