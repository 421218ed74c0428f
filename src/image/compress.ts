/**
 * Layer compression: gzip (Node's zlib, or `pigz` for several cores), zstd (the `zstd` binary:
 * Node 20's zlib has none) and none. Decompression sniffs the magic bytes, because media types
 * on the wire are not always honest about what a blob holds.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Duplex, PassThrough, Readable, type Transform, type Writable } from 'node:stream';
import { constants, createGunzip, createGzip } from 'node:zlib';
import { ImageError } from './errors.js';
import type { Compression } from './media-types.js';

export interface CompressOptions {
  compression: Compression;
  /** gzip 1-9 (default 6, as Go's and Docker's default), zstd 1-19 (default 3). */
  level?: number;
  /**
   * Threads for gzip through `pigz -p N` (Node's zlib when pigz is not installed) and for zstd
   * (`-T N`); 0 or undefined means Node's zlib for gzip and one thread for zstd.
   */
  pigzThreads?: number;
}

/** The error for a filter program that failed: how it ended and the start of its stderr. */
function filterFailed(
  command: string,
  exit: { code: number | null; signal: NodeJS.Signals | null },
  stderr: string,
): ImageError {
  const why = exit.code === null ? `signal ${exit.signal}` : `exit code ${exit.code}`;
  return new ImageError(
    'IMAGE_COMPRESSOR_FAILED',
    `${command} failed with ${why}: ${stderr.trim()}`,
  );
}

function cannotRun(command: string, err: Error): ImageError {
  return new ImageError('IMAGE_COMPRESSOR_FAILED', `cannot run ${command}: ${err.message}`, {
    cause: err,
  });
}

/** Keeps the first 4 KiB of a child's stderr for the error message. */
function collectStderr(child: ChildProcess): () => string {
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    if (stderr.length < 4096) stderr += text;
  });
  return () => stderr;
}

/** Runs a filter program, its stdin and stdout as one duplex stream; a non-zero exit is an error. */
export function spawnFilter(command: string, args: string[]): Duplex {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr = collectStderr(child);

  // Duplex.from ends the readable side when stdout ends; the exit status arrives separately, so
  // stdout is relayed through a PassThrough that only ends once the exit code is known.
  const output = new PassThrough();
  let stdoutEnded = false;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const settle = () => {
    if (!stdoutEnded || exit === undefined) return;
    if (exit.code === 0) output.end();
    else output.destroy(filterFailed(command, exit, stderr()));
  };
  child.stdout.on('end', () => {
    stdoutEnded = true;
    settle();
  });
  child.stdout.pipe(output, { end: false });
  child.on('close', (code, signal) => {
    exit = { code, signal };
    stdoutEnded = true;
    settle();
  });
  child.on('error', (err) => output.destroy(cannotRun(command, err)));
  // A consumer that stops early closes stdin; the resulting EPIPE is not the interesting error.
  child.stdin.on('error', () => {});

  const duplex = Duplex.from({ writable: child.stdin, readable: output });
  duplex.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return duplex;
}

/** A filter program writing straight into a file: its stdin, and when it has exited. */
export interface FileFilter {
  input: Writable;
  /** Resolves when the program exited 0, rejects when it failed or could not start. */
  finished: Promise<void>;
  /** Kills the program (when the input failed, so its output is of no use). */
  kill(): void;
}

/**
 * Runs a filter program whose stdout is the open file `fd`: the compressed bytes go from the
 * program to the file without a trip through this process.
 */
export function spawnFilterToFile(command: string, args: string[], fd: number): FileFilter {
  const child = spawn(command, args, { stdio: ['pipe', fd, 'pipe'] });
  const stderr = collectStderr(child);
  const finished = new Promise<void>((resolve, reject) => {
    child.on('error', (err) => reject(cannotRun(command, err)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(filterFailed(command, { code, signal }, stderr()));
    });
  });
  // Awaited by whoever finishes the write; a caller that failed first only kills it.
  finished.catch(() => {});
  const input = child.stdin as Writable;
  // When the program dies, writes to its stdin fail with EPIPE; its exit says why.
  input.on('error', () => {});
  return {
    input,
    finished,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

const found = new Map<string, string | undefined>();

/** The absolute path of a program on PATH, or undefined (looked up once per process). */
export function findProgram(name: string): string | undefined {
  if (found.has(name)) return found.get(name);
  let path: string | undefined;
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), fsConstants.X_OK);
      path = join(dir, name);
      break;
    } catch {}
  }
  found.set(name, path);
  return path;
}

function requireProgram(name: string, why: string): string {
  const path = findProgram(name);
  if (path === undefined) {
    throw new ImageError(
      'IMAGE_COMPRESSOR_FAILED',
      `'${name}' is needed ${why} but is not on PATH`,
      {
        hint: `install ${name} (Debian: apt-get install ${name})`,
      },
    );
  }
  return path;
}

/**
 * The program that compresses as `options` say, or undefined when Node does it (zlib's gzip
 * without pigz or threads, and 'none').
 */
export function compressorCommand(
  options: CompressOptions,
): { command: string; args: string[] } | undefined {
  const { compression } = options;
  if (compression === 'none') return undefined;
  const threads = options.pigzThreads ?? 0;
  if (compression === 'gzip') {
    const pigz = findProgram('pigz');
    if (threads <= 0 || pigz === undefined) return undefined;
    // -n: no name and a zero mtime in the gzip header, so the bytes depend only on the input.
    // pigz's output does not depend on -p: its blocks are of a fixed size.
    const args = ['-c', '-n', `-${options.level ?? 6}`, '-p', String(threads)];
    return { command: pigz, args };
  }
  const zstd = requireProgram('zstd', 'for zstd compression');
  const args = ['-q', '-c', `-${options.level ?? 3}`, `-T${Math.max(threads, 1)}`, '--no-progress'];
  return { command: zstd, args };
}

/** A stream that compresses what is written to it. */
export function createCompressor(options: CompressOptions): Duplex | Transform {
  const program = compressorCommand(options);
  if (program !== undefined) return spawnFilter(program.command, program.args);
  if (options.compression === 'none') return new PassThrough();
  return createGzip({ level: options.level ?? 6 });
}

/** A stream that decompresses what is written to it. */
export function createDecompressor(compression: Compression): Duplex | Transform {
  if (compression === 'none') return new PassThrough();
  if (compression === 'gzip') {
    // Layers are sometimes several gzip members back to back; zlib reads them all.
    return createGunzip({ finishFlush: constants.Z_SYNC_FLUSH });
  }
  return spawnFilter(requireProgram('zstd', 'to read zstd layers'), ['-q', '-d', '-c']);
}

/** Which compression the first bytes of a blob show. */
export function sniffCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/** Decompresses a blob of whatever compression its magic bytes show. */
export async function* decompress(
  input: AsyncIterable<Buffer | string>,
): AsyncGenerator<Buffer, void, undefined> {
  const iterator = input[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headLength = 0;
  let done = false;
  while (headLength < 4) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
    head.push(chunk);
    headLength += chunk.length;
  }
  const first = Buffer.concat(head);
  async function* all(): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first;
    while (!done) {
      const next = await iterator.next();
      if (next.done) return;
      yield typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
    }
  }

  const compression = sniffCompression(first);
  if (compression === 'none') {
    yield* all();
    return;
  }
  const source = Readable.from(all());
  const decompressor = createDecompressor(compression);
  source.on('error', (err) => decompressor.destroy(err));
  source.pipe(decompressor);
  try {
    for await (const chunk of decompressor) yield chunk as Buffer;
  } finally {
    source.destroy();
    decompressor.destroy();
  }
}
