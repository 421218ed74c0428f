/**
 * The bench's build contexts: the reference workload (copied, since the one-file scenario edits
 * it), a RUN that writes 1 GiB in 20,000 files (half random bytes, half text) for layer export,
 * and a context of 50,000 small files for the cost of a rebuild that only has to check them.
 */
import { appendFile, chmod, cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const WORKLOAD_DIR = process.env.KILN_WORKLOAD_DIR ?? '/work/shared/bench/node-app';

/** A writable copy of the reference workload under dir. */
export async function nodeAppContext(dir: string): Promise<string> {
  const context = join(dir, 'node-app');
  await cp(WORKLOAD_DIR, context, { recursive: true });
  await chmod(join(context, 'src', 'route07.ts'), 0o644);
  return context;
}

/** The one-file change: a new line at the end of src/route07.ts, different every time. */
export async function touchRoute07(context: string, n: number): Promise<void> {
  await appendFile(join(context, 'src', 'route07.ts'), `// bench edit ${n}\n`);
}

export const LAYER_FILES = 20_000;
export const LAYER_BYTES = 1024 ** 3;

/**
 * Writes LAYER_FILES files totalling LAYER_BYTES into argv[2], in 100 directories: the first half
 * random bytes (incompressible), the second half numbered text lines (very compressible).
 */
export const GENERATOR = `import { randomFillSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
const root = process.argv[2];
const files = ${LAYER_FILES};
const size = Math.floor(${LAYER_BYTES} / files);
const buf = Buffer.alloc(size);
for (let i = 0; i < files; i++) {
  const dir = root + '/d' + (i % 100);
  if (i < 100) mkdirSync(dir, { recursive: true });
  if (i < files / 2) {
    randomFillSync(buf);
  } else {
    let text = '';
    for (let line = 0; text.length < size; line++) {
      text += 'file ' + i + ' line ' + line + ': the quick brown fox jumps over the lazy dog\\n';
    }
    buf.write(text.slice(0, size), 'latin1');
  }
  writeFileSync(dir + '/f' + i, buf);
}
`;

export async function layerExportContext(dir: string): Promise<string> {
  const context = join(dir, 'layer-export');
  await mkdir(context, { recursive: true });
  await writeFile(join(context, 'gen.mjs'), GENERATOR);
  await writeFile(
    join(context, 'Dockerfile'),
    'ARG NODE_IMAGE\nFROM $NODE_IMAGE\nCOPY gen.mjs /gen.mjs\nRUN node /gen.mjs /data\n',
  );
  return context;
}

export const CONTEXT_FILES = 50_000;

/** 50,000 files of 200 to 2,200 bytes in 500 directories, copied whole by the Dockerfile. */
export async function largeContext(dir: string): Promise<string> {
  const context = join(dir, 'large-context');
  await mkdir(context, { recursive: true });
  await writeFile(
    join(context, 'Dockerfile'),
    'ARG NODE_IMAGE\nFROM $NODE_IMAGE\nWORKDIR /ctx\nCOPY . .\nRUN ls -R /ctx | wc -l\n',
  );
  for (let d = 0; d < 500; d++) {
    const sub = join(context, 'src', `m${d}`);
    await mkdir(sub, { recursive: true });
    const writes: Promise<void>[] = [];
    for (let f = 0; f < CONTEXT_FILES / 500; f++) {
      const body = `// module ${d}/${f}\n`.padEnd(200 + ((d * 100 + f) % 2000), '.');
      writes.push(writeFile(join(sub, `f${f}.js`), `${body}\n`));
    }
    await Promise.all(writes);
  }
  return context;
}
