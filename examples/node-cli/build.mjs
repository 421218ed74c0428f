// Bundles src/count.mjs and src/main.mjs into one ES module: the import between them is replaced by
// the imported module's text, which is all the bundling two local modules need.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

const out = process.argv[2] ?? 'dist/wordfreq.mjs';
const count = (await readFile('src/count.mjs', 'utf8')).replace(/^export /m, '');
const main = (await readFile('src/main.mjs', 'utf8')).replace(/^import .*\n/m, '');
await mkdir(dirname(out), { recursive: true });
await writeFile(out, `${count}\n${main}`);
