/**
 * `kiln debug parse FILE|-`: runs only the parser and prints BuildKit's test dump. This is the
 * one frontend file that writes to the streams it is given.
 */

import { readFile } from 'node:fs/promises';
import { KilnError } from '../errors.js';
import { dumpDockerfile, parseDockerfile } from '../frontend/dockerfile/index.js';

export interface DebugParseStreams {
  stdin: AsyncIterable<Buffer | string>;
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
}

async function readAll(input: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of input)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/** Returns the exit code: 0 parsed, 2 unreadable file or Dockerfile error. */
export async function debugParse(
  fileOrDash: string,
  streams: DebugParseStreams = process,
): Promise<number> {
  const name = fileOrDash === '-' ? '<stdin>' : fileOrDash;
  let source: Buffer;
  try {
    source = fileOrDash === '-' ? await readAll(streams.stdin) : await readFile(fileOrDash);
  } catch (err) {
    streams.stderr.write(`error: cannot read ${name}: ${(err as Error).message}\n`);
    return 2;
  }

  try {
    const parsed = parseDockerfile(source, name);
    for (const w of parsed.warnings)
      streams.stderr.write(`warning: ${name}:${w.line}: ${w.message}\n`);
    streams.stdout.write(dumpDockerfile(parsed));
    return 0;
  } catch (err) {
    if (!(err instanceof KilnError)) throw err;
    const loc = err.location;
    const where = loc === undefined ? name : `${loc.file}:${loc.line}:${loc.column}`;
    streams.stderr.write(`error: ${where}: ${err.message}\n`);
    if (err.hint !== undefined) streams.stderr.write(`hint: ${err.hint}\n`);
    return 2;
  }
}
