import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DockerfileError } from '../../errors.js';
import { parseDockerfile } from '../dockerfile/index.js';
import { parseMountSpec, parseStages } from './index.js';

const stagesOf = (src: string) => parseStages(parseDockerfile(src, 'Dockerfile'));

test('splits stages, lower-cases names and keeps global ARGs as meta args', () => {
  const r = stagesOf('ARG V=1\nFROM --platform=$P img:$V AS Build\nRUN make\nFROM build\n');
  assert.equal(r.metaArgs[0]?.args[0]?.key, 'V');
  assert.equal(r.stages[0]?.name, 'build');
  assert.equal(r.stages[0]?.platform, '$P');
  assert.equal(r.stages[0]?.baseName, 'img:$V');
  assert.equal(r.stages[1]?.baseName, 'build');
  assert.equal(r.stages[0]?.commands[0]?.kind, 'run');
});

const rejects: [src: string, message: RegExp, hint?: RegExp][] = [
  ['FROM a\nRUNN x\n', /unknown instruction: RUNN/, /RUN/],
  ['FROM a\nCOPY --frm=x a b\n', /unknown flag: frm/, /--from/],
  ['FROM a\nCOPY a\n', /requires at least two arguments/],
  ['FROM a b\n', /either one or three arguments/],
  ['FROM a AS 1x\n', /invalid name for build stage/],
  ['RUN x\n', /no build stage/],
  ['FROM a\nHEALTHCHECK --interval=abc CMD x\n', /invalid duration/],
  ['FROM a\nSHELL sh -c\n', /JSON form/],
  ['FROM a\nONBUILD ONBUILD RUN x\n', /Chaining ONBUILD/],
  ['FROM a\nRUN --mount=type=nope,target=/x true\n', /unsupported mount type/],
  ['FROM a\nRUN --network=bridge true\n', /unsupported network mode/],
  ['FROM a\nCOPY --link=maybe a b\n', /expecting boolean value/],
];

for (const [src, message, hint] of rejects) {
  test(`rejects ${JSON.stringify(src)} with a located error`, () => {
    assert.throws(
      () => stagesOf(src),
      (err: unknown) =>
        err instanceof DockerfileError &&
        message.test(err.message) &&
        (hint === undefined || hint.test(err.hint ?? '')) &&
        err.location !== undefined,
    );
  });
}

test('parses cache, secret and tmpfs mount specs', () => {
  const cache = parseMountSpec('type=cache,target=/c,sharing=locked,mode=0755,uid=1');
  assert.deepEqual(
    [cache.type, cache.target, cache.sharing, cache.mode, cache.uid],
    ['cache', '/c', 'locked', 0o755, 1],
  );
  const secret = parseMountSpec('type=secret,id=tok,required');
  assert.deepEqual([secret.id, secret.required, secret.readOnly], ['tok', true, true]);
  assert.equal(parseMountSpec('type=tmpfs,target=/t,size=1m').size, 1024 * 1024);
  assert.equal(parseMountSpec('target=/src').readOnly, true);
});

test('maps COPY heredoc sources to inline contents and chomps <<-', () => {
  const r = stagesOf('FROM a\nCOPY <<-X /dst\n\thello\nX\n');
  const copy = r.stages[0]?.commands[0];
  assert.equal(copy?.kind, 'copy');
  if (copy?.kind === 'copy') assert.equal(copy.sources.sourceContents[0]?.data, 'hello\n');
});
