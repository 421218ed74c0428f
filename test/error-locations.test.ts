/**
 * Every error a Dockerfile causes points at file:line:column of the word at fault, through the
 * real CLI: the JSON `error` event, the plain renderer and `kiln executor`. A table of small bad
 * Dockerfiles, each with the code, exit code, line and column it must report.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { useBusyboxRegistry } from './support/busybox-registry.js';
import { jsonEvents, runKiln } from './support/kiln.js';

interface Case {
  name: string;
  /** `BASE` stands for the busybox image, `REG` for the test registry's host. */
  dockerfile: string;
  code: string;
  exit: 1 | 2;
  line: number;
  column: number;
  hint?: RegExp;
}

const CASES: Case[] = [
  {
    name: 'an unknown instruction at its keyword',
    dockerfile: 'FROM BASE\nRUNN echo hi\n',
    code: 'DOCKERFILE_INSTRUCTION',
    exit: 2,
    line: 2,
    column: 1,
    hint: /RUN/,
  },
  {
    name: 'an indented unknown instruction at its keyword, not at column 1',
    dockerfile: 'FROM BASE\n   RUNN echo hi\n',
    code: 'DOCKERFILE_INSTRUCTION',
    exit: 2,
    line: 2,
    column: 4,
  },
  {
    name: 'an unknown flag at the flag',
    dockerfile: 'FROM BASE\nCOPY --link --bogus=1 a.txt /\n',
    code: 'DOCKERFILE_INSTRUCTION',
    exit: 2,
    line: 2,
    column: 13,
  },
  {
    name: 'a bad --chmod value at the flag',
    dockerfile: 'FROM BASE\nCOPY --chmod=abc a.txt /\n',
    code: 'COPY_BAD_CHMOD',
    exit: 2,
    line: 2,
    column: 6,
  },
  {
    name: 'a bad RUN --mount at the flag',
    dockerfile: 'FROM BASE\nRUN --network=none --mount=type=bogus true\n',
    code: 'DOCKERFILE_INSTRUCTION',
    exit: 2,
    line: 2,
    column: 20,
  },
  {
    name: 'a bad --network value at the flag',
    dockerfile: 'FROM BASE\nRUN --network=bogus true\n',
    code: 'DOCKERFILE_INSTRUCTION',
    exit: 2,
    line: 2,
    column: 5,
  },
  {
    name: 'a bad HEALTHCHECK duration at the flag',
    dockerfile: 'FROM BASE\nHEALTHCHECK --interval=abc CMD true\n',
    code: 'DOCKERFILE_INSTRUCTION',
    exit: 2,
    line: 2,
    column: 13,
  },
  {
    name: 'a bad stage name at the name',
    dockerfile: 'FROM scratch AS 1bad\n',
    code: 'DOCKERFILE_INSTRUCTION',
    exit: 2,
    line: 1,
    column: 17,
  },
  {
    name: 'an ENV word without = at that word',
    dockerfile: 'FROM BASE\nLABEL a=b  c\n',
    code: 'DOCKERFILE_SYNTAX',
    exit: 2,
    line: 2,
    column: 12,
  },
  {
    name: 'a column counted in characters, not bytes',
    dockerfile: 'FROM BASE\nLABEL é=ü c\n',
    code: 'DOCKERFILE_SYNTAX',
    exit: 2,
    line: 2,
    column: 11,
  },
  {
    name: 'a JSON array with a number at that element',
    dockerfile: 'FROM BASE\nCMD ["a", 1]\n',
    code: 'DOCKERFILE_SYNTAX',
    exit: 2,
    line: 2,
    column: 11,
  },
  {
    name: 'an unterminated quote in ENV at the value',
    dockerfile: 'FROM BASE\nENV A=1 B="x\n',
    code: 'EXPANSION_FAILED',
    exit: 2,
    line: 2,
    column: 11,
  },
  {
    name: 'an unterminated ${ on a continuation line at that word and line',
    dockerfile: 'FROM BASE\nCOPY a.txt \\\n    b${x /x\n',
    code: 'EXPANSION_FAILED',
    exit: 2,
    line: 3,
    column: 5,
  },
  {
    name: 'a required-variable error in WORKDIR at the word',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Dockerfile text, not a JS template.
    dockerfile: 'FROM BASE\nWORKDIR   ${x:?must be set}\n',
    code: 'EXPANSION_FAILED',
    exit: 2,
    line: 2,
    column: 11,
  },
  {
    name: 'an invalid port at that port',
    dockerfile: 'FROM BASE\nEXPOSE 80 abc\n',
    code: 'EXPOSE_INVALID',
    exit: 2,
    line: 2,
    column: 11,
  },
  {
    name: 'an unterminated heredoc at its marker',
    dockerfile: 'FROM BASE\nRUN cat <<EOF\nhello\n',
    code: 'DOCKERFILE_HEREDOC',
    exit: 2,
    line: 2,
    column: 9,
  },
  {
    name: 'a bad escape directive at its value',
    dockerfile: '# escape=x\nFROM BASE\n',
    code: 'DOCKERFILE_DIRECTIVE',
    exit: 2,
    line: 1,
    column: 10,
  },
  {
    name: 'an instruction before FROM at its keyword',
    dockerfile: '\n  COPY a.txt /\nFROM BASE\n',
    code: 'DOCKERFILE_NO_STAGE',
    exit: 2,
    line: 2,
    column: 3,
  },
  {
    name: 'a bad image reference in FROM at the image',
    dockerfile: 'FROM  Bad::ref\n',
    code: 'REFERENCE_INVALID',
    exit: 2,
    line: 1,
    column: 7,
  },
  {
    name: 'a bad image reference in COPY --from at the flag',
    dockerfile: 'FROM BASE\nCOPY --from=Bad::ref /a /\n',
    code: 'REFERENCE_INVALID',
    exit: 2,
    line: 2,
    column: 6,
  },
  {
    name: 'a bad image reference in RUN --mount from= at the flag',
    dockerfile: 'FROM BASE\nRUN --mount=from=Bad::ref,target=/x true\n',
    code: 'REFERENCE_INVALID',
    exit: 2,
    line: 2,
    column: 5,
  },
  {
    name: 'COPY --from a stage index that does not come before it, at the flag',
    dockerfile: 'FROM BASE\nCOPY --from=3 /a /\n',
    code: 'COPY_FROM_UNKNOWN_STAGE',
    exit: 2,
    line: 2,
    column: 6,
  },
  {
    name: 'COPY --from its own stage at the flag',
    dockerfile: 'FROM BASE AS me\nCOPY --from=me /a /\n',
    code: 'COPY_FROM_SELF',
    exit: 2,
    line: 2,
    column: 6,
  },
  {
    name: 'an invalid ADD --checksum at the flag',
    dockerfile: 'FROM BASE\nADD --checksum=sha256:zz http://127.0.0.1:9/x /\n',
    code: 'ADD_CHECKSUM_INVALID',
    exit: 2,
    line: 2,
    column: 5,
  },
  {
    name: 'several COPY sources into a destination without a trailing / at the destination',
    dockerfile: 'FROM BASE\nCOPY a.txt a.txt /x\n',
    code: 'COPY_DEST_NOT_DIR',
    exit: 2,
    line: 2,
    column: 18,
  },
  {
    name: 'a missing base image at the image, exit 1, with a hint',
    dockerfile: 'FROM REG/kiln-test/missing:1\n',
    code: 'REGISTRY_NOT_FOUND',
    exit: 1,
    line: 1,
    column: 6,
    hint: /image/,
  },
  {
    name: 'a missing COPY --from image at the flag, exit 1, with a hint',
    dockerfile: 'FROM BASE\nCOPY --from=REG/kiln-test/missing:1 /a /\n',
    code: 'REGISTRY_NOT_FOUND',
    exit: 1,
    line: 2,
    column: 6,
    hint: /stage/,
  },
  {
    name: 'a missing COPY source at that source, exit 1',
    dockerfile: 'FROM BASE\nCOPY a.txt \\\n  missing.txt /\n',
    code: 'COPY_SOURCE_NOT_FOUND',
    exit: 1,
    line: 3,
    column: 3,
  },
];

describe('Dockerfile errors point at file:line:column', () => {
  const fixture = useBusyboxRegistry('errloc');
  let n = 0;

  async function context(dockerfile: string): Promise<string> {
    const dir = join(fixture.work, `ctx-${n++}`);
    await mkdir(dir);
    const text = dockerfile
      .replaceAll('BASE', fixture.base)
      .replaceAll('REG', fixture.registry.host);
    await writeFile(join(dir, 'Dockerfile'), text);
    await writeFile(join(dir, 'a.txt'), 'a\n');
    return dir;
  }

  const cache = () => join(fixture.work, 'cache');

  for (const c of CASES) {
    it(`reports ${c.name}`, async () => {
      const dir = await context(c.dockerfile);
      const res = await runKiln(['build', '--progress=json', '--cache-dir', cache(), dir]);
      const error = jsonEvents(res.stderr).find((e) => e.type === 'error');
      assert.ok(error, res.stderr);
      const got = { code: error.code, exit: res.code, line: error.line, column: error.column };
      const want = { code: c.code, exit: c.exit, line: c.line, column: c.column };
      assert.deepEqual(got, want, String(error.message));
      assert.equal(error.file, join(dir, 'Dockerfile'));
      if (c.hint) assert.match(String(error.hint), c.hint);
    });
  }

  it('names the Dockerfile as -f gave it, and prints file:line:column in plain progress', async () => {
    const dir = await context('FROM BASE\nCOPY --chmod=abc a.txt /\n');
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'app.Dockerfile'), `FROM ${fixture.base}\n  RUNN x\n`);
    const res = await runKiln(
      ['build', '--progress=plain', '--cache-dir', cache(), '-f', 'sub/app.Dockerfile', '.'],
      { cwd: dir },
    );
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /^ERROR: sub\/app\.Dockerfile:2:3: .*unknown instruction: RUNN$/m);
  });

  it('names a Dockerfile read from stdin <stdin>', async () => {
    const dir = await context('');
    const res = await runKiln(
      ['build', '--progress=json', '--cache-dir', cache(), '-f', '-', dir],
      { input: `FROM ${fixture.base}\nCOPY --chmod=abc a.txt /\n` },
    );
    assert.equal(res.code, 2, res.stderr);
    const error = jsonEvents(res.stderr).find((e) => e.type === 'error');
    assert.deepEqual(
      [error?.file, error?.line, error?.column, error?.code],
      ['<stdin>', 2, 6, 'COPY_BAD_CHMOD'],
    );
  });

  it('copies ../x as the context root x, as BuildKit does, with a warning at the source', async () => {
    const dir = await context('FROM BASE\nCOPY ../a.txt /got.txt\n');
    const out = join(fixture.work, `out-${n++}`);
    const res = await runKiln([
      'build',
      '--progress=json',
      '--cache-dir',
      cache(),
      '-o',
      `type=local,dest=${out}`,
      dir,
    ]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(
      await readFile(join(out, 'got.txt'), 'utf8'),
      await readFile(join(dir, 'a.txt'), 'utf8'),
    );
    const warning = jsonEvents(res.stderr).find((e) => e.type === 'warning');
    assert.deepEqual([warning?.line, warning?.column], [2, 6]);
    assert.match(String(warning?.message), /\.\.\/a\.txt: '\.\.' above the context root/);
  });

  it('reports the same location through kiln executor, naming --dockerfile as given', async () => {
    const dir = await context('FROM BASE\nCOPY a.txt \\\n  a.txt /x\n');
    const res = await runKiln(
      [
        'executor',
        `--context=dir://${dir}`,
        '--dockerfile=Dockerfile',
        '--no-push',
        `--cache-dir=${cache()}`,
        '--log-format=json',
      ],
      { cwd: dir },
    );
    assert.equal(res.code, 2, res.stderr);
    const error = jsonEvents(res.stderr).find((e) => e.type === 'error');
    assert.deepEqual(
      [error?.file, error?.line, error?.column, error?.code],
      ['Dockerfile', 3, 9, 'COPY_DEST_NOT_DIR'],
    );
  });
});
