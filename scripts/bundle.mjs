// Bundles the compiled CLI (dist/src/cli/main.js) into one file, dist/src/cli/kiln.mjs, which the
// `kiln` bin runs. Loading ~200 separate ES modules cost about 0.3 s per start, and kiln starts
// twice per build (the re-exec into the user namespace). HTTP is kiln's own client on node:http
// (src/net/), not a library: undici made up 1.07 of the bundle's 1.7 MB and cost 40-60 ms per
// start. fs-xattr stays outside: it is a native addon loaded from node_modules.
//
// The file is also its own launcher. Run as a program (the npm bin link, `npx kiln`, a symlink on
// PATH) it starts as /bin/sh, which moves NODE_EXTRA_CA_CERTS to KILN_EXTRA_CA_CERTS and execs
// node on the same file: Node parses the NODE_EXTRA_CA_CERTS bundle at every start (about 35-70 ms
// with Debian's), while kiln reads that file itself for its registry TLS (src/net/extra-ca.ts).
// Run as `node kiln.mjs`, Node skips the #! line and the second line is a string and a comment.
// The shell part must stay on that one line: the comment it hides in ends there.
import { chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const LAUNCHER = [
  '#!/bin/sh',
  `':' //; [ -z "$NODE_EXTRA_CA_CERTS" ] || { export KILN_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"; ` +
    `unset NODE_EXTRA_CA_CERTS; }; exec node "$0" "$@"`,
];
// CommonJS dependencies bundled into ESM still call require() for Node's own modules.
const REQUIRE_SHIM = [
  "import { createRequire as kilnCreateRequire } from 'node:module';",
  'const require = kilnCreateRequire(import.meta.url);',
];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist/src/cli/kiln.mjs');
await build({
  entryPoints: [join(root, 'dist/src/cli/main.js')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['fs-xattr'],
  banner: { js: [...LAUNCHER, ...REQUIRE_SHIM].join('\n') },
  logLevel: 'warning',
});
chmodSync(outfile, 0o755);
