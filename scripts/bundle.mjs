// Bundles the compiled CLI (dist/src/cli/main.js) into one file, dist/src/cli/kiln.mjs, which the
// `kiln` bin runs. Loading ~200 separate ES modules cost about 0.3 s per start, and kiln starts
// twice per build (the re-exec into the user namespace). HTTP is kiln's own client on node:http
// (src/net/), not a library: undici made up 1.07 of the bundle's 1.7 MB and cost 40-60 ms per
// start. fs-xattr stays outside: it is a native addon loaded from node_modules.
import { chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

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
  // CommonJS dependencies bundled into ESM still call require() for Node's own modules.
  banner: { js: "import { createRequire as kilnCreateRequire } from 'node:module';\nconst require = kilnCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
chmodSync(outfile, 0o755);
