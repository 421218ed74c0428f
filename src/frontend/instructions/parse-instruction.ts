/**
 * Instruction -> typed Command, like BuildKit's instructions.ParseInstruction: flags, argument
 * counts, exec forms and durations are validated; words are left unexpanded.
 */

import { DockerfileError, type SourceLocation } from '../../errors.js';
import { chompHeredocContent, parseHeredocMarker } from '../dockerfile/heredoc.js';
import type { Instruction } from '../dockerfile/instruction.js';
import { argAt, flagIndexAt, keywordAt } from '../dockerfile/word-location.js';
import { FlagError } from './bflags.js';
import type { ArgDef, Command, InlineFile, KeyValue, SourcesAndDest } from './commands.js';
import {
  atLeastOne,
  base,
  commandLine,
  exactlyOne,
  Failure,
  flags,
  noDest,
} from './instruction-support.js';
import { parseHealthcheck } from './parse-healthcheck.js';
import { parseRun } from './parse-run.js';
import { nearest } from './suggest.js';

export const INSTRUCTION_NAMES = [
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'MAINTAINER',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
] as const;

/** FROM starts a stage and is not a Command; parseInstruction returns this for it. */
export interface FromInstruction {
  kind: 'from';
  baseName: string;
  name?: string;
  platform?: string;
  original: string;
  location: Instruction['location'];
}

export function parseInstruction(ins: Instruction): Command | FromInstruction {
  try {
    return dispatch(ins);
  } catch (err) {
    if (err instanceof Failure || err instanceof FlagError) {
      const at =
        err instanceof FlagError
          ? flagIndexAt(ins.location, err.index)
          : (err.at ?? keywordAt(ins.location));
      throw new DockerfileError(
        'DOCKERFILE_INSTRUCTION',
        `dockerfile parse error on line ${at.line}: ${err.message}`,
        at,
        err.hint,
      );
    }
    throw err;
  }
}

function dispatch(ins: Instruction): Command | FromInstruction {
  const args = ins.args;
  switch (ins.keyword) {
    case 'env':
      flags(ins, {});
      return { kind: 'env', env: keyValues(ins, 'ENV'), ...base(ins) };
    case 'label':
      flags(ins, {});
      return { kind: 'label', labels: keyValues(ins, 'LABEL'), ...base(ins) };
    case 'maintainer':
      if (args.length !== 1) throw exactlyOne('MAINTAINER');
      flags(ins, {});
      return { kind: 'maintainer', maintainer: args[0]!, ...base(ins) };
    case 'add':
      return parseAdd(ins);
    case 'copy':
      return parseCopy(ins);
    case 'from':
      return parseFrom(ins);
    case 'onbuild':
      return parseOnbuild(ins);
    case 'workdir':
      if (args.length !== 1) throw exactlyOne('WORKDIR');
      flags(ins, {});
      return { kind: 'workdir', path: args[0]!, ...base(ins) };
    case 'run':
      return parseRun(ins);
    case 'cmd':
      flags(ins, {});
      return { kind: 'cmd', command: commandLine(ins), ...base(ins) };
    case 'entrypoint':
      flags(ins, {});
      return { kind: 'entrypoint', command: commandLine(ins), ...base(ins) };
    case 'healthcheck':
      return parseHealthcheck(ins);
    case 'expose':
      if (args.length === 0) throw atLeastOne('EXPOSE');
      flags(ins, {});
      return parseExpose(ins);
    case 'user':
      if (args.length !== 1) throw exactlyOne('USER');
      flags(ins, {});
      return { kind: 'user', user: args[0]!, ...base(ins) };
    case 'volume':
      return parseVolume(ins);
    case 'stopsignal':
      if (args.length !== 1) throw exactlyOne('STOPSIGNAL');
      flags(ins, {});
      return { kind: 'stopsignal', signal: args[0]!, ...base(ins) };
    case 'arg':
      return parseArg(ins);
    case 'shell':
      return parseShell(ins);
  }
  const guess = nearest(ins.rawKeyword, INSTRUCTION_NAMES);
  throw new Failure(
    `unknown instruction: ${ins.rawKeyword}`,
    guess === undefined ? undefined : `did you mean ${guess}?`,
  );
}

/** Ports sorted, as BuildKit keeps them; the arguments' locations are sorted along. */
function parseExpose(ins: Instruction): Command {
  const order = ins.args.map((_, i) => i).sort((a, b) => cmp(ins.args[a]!, ins.args[b]!));
  const location = { ...ins.location, args: order.map((i) => argAt(ins.location, i)) };
  return {
    kind: 'expose',
    ports: order.map((i) => ins.args[i]!),
    original: ins.original,
    location,
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** ENV/LABEL arguments come as key, value, separator triples from the parser. */
function keyValues(ins: Instruction, cmd: string): KeyValue[] {
  const args = ins.args;
  if (args.length === 0) throw atLeastOne(cmd);
  if (args.length % 3 !== 0) throw new Failure(`Bad input to ${cmd}, too many arguments`);
  const out: KeyValue[] = [];
  for (let i = 0; i < args.length; i += 3) {
    if (args[i]!.length === 0) {
      throw new Failure(`${cmd} names can not be blank`, undefined, argAt(ins.location, i));
    }
    out.push({ key: args[i]!, value: args[i + 1]!, legacy: args[i + 2] === '' });
  }
  return out;
}

function sourcesAndDest(ins: Instruction, cmd: string): SourcesAndDest {
  const srcs = ins.args.slice(0, -1);
  const last = ins.args.length - 1;
  const dest = ins.args[last]!;
  const destLocation = argAt(ins.location, last);
  if (parseHeredocMarker(dest) !== undefined) {
    throw new Failure(`${cmd} cannot accept a heredoc as a destination`, undefined, destLocation);
  }
  const byName = new Map(ins.heredocs.map((h) => [h.name, h]));
  const sourcePaths: string[] = [];
  const sourceLocations: SourceLocation[] = [];
  const sourceContents: InlineFile[] = [];
  for (const [i, src] of srcs.entries()) {
    const marker = ins.json ? undefined : parseHeredocMarker(src);
    if (marker === undefined) {
      sourcePaths.push(src);
      sourceLocations.push(argAt(ins.location, i));
      continue;
    }
    const doc = byName.get(marker.name);
    let data = doc?.content ?? '';
    if (marker.chomp) data = chompHeredocContent(data);
    sourceContents.push({
      name: marker.name,
      data,
      expand: marker.expand,
      chomp: marker.chomp,
      fd: marker.fd,
    });
  }
  return { sourcePaths, sourceLocations, sourceContents, destPath: dest, destLocation };
}

function parseAdd(ins: Instruction): Command {
  if (ins.args.length < 2) throw noDest('ADD');
  const f = flags(ins, {
    chown: 'string',
    chmod: 'string',
    link: 'bool',
    checksum: 'string',
    'keep-git-dir': 'bool',
    unpack: 'bool',
    exclude: 'strings',
  });
  return {
    kind: 'add',
    sources: sourcesAndDest(ins, 'ADD'),
    chown: f.string('chown'),
    chmod: f.string('chmod'),
    link: f.bool('link'),
    checksum: f.string('checksum'),
    keepGitDir: f.has('keep-git-dir') ? f.bool('keep-git-dir') : undefined,
    unpack: f.has('unpack') ? f.bool('unpack') : undefined,
    exclude: f.strings('exclude'),
    ...base(ins),
  };
}

function parseCopy(ins: Instruction): Command {
  if (ins.args.length < 2) throw noDest('COPY');
  const f = flags(ins, {
    chown: 'string',
    from: 'string',
    chmod: 'string',
    link: 'bool',
    parents: 'bool',
    exclude: 'strings',
  });
  return {
    kind: 'copy',
    sources: sourcesAndDest(ins, 'COPY'),
    from: f.string('from'),
    chown: f.string('chown'),
    chmod: f.string('chmod'),
    link: f.bool('link'),
    parents: f.bool('parents'),
    exclude: f.strings('exclude'),
    ...base(ins),
  };
}

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

function parseFrom(ins: Instruction): FromInstruction {
  const args = ins.args;
  let name: string | undefined;
  if (args.length === 3 && args[1]!.toLowerCase() === 'as') {
    name = args[2]!.toLowerCase();
    if (!STAGE_NAME.test(name)) {
      throw new Failure(
        `invalid name for build stage: ${JSON.stringify(args[2])}, ` +
          "name can't start with a number or contain symbols",
        undefined,
        argAt(ins.location, 2),
      );
    }
  } else if (args.length !== 1) {
    throw new Failure('FROM requires either one or three arguments');
  }
  const f = flags(ins, { platform: 'string' });
  const out: FromInstruction = {
    kind: 'from',
    baseName: args[0]!,
    original: ins.original.trim(),
    location: ins.location,
  };
  if (name !== undefined) out.name = name;
  const platform = f.string('platform');
  if (platform !== undefined) out.platform = platform;
  return out;
}

function parseOnbuild(ins: Instruction): Command {
  if (ins.args.length === 0) throw atLeastOne('ONBUILD');
  flags(ins, {});
  const trigger = ins.args[0]!.trim().toUpperCase();
  const at = argAt(ins.location, 0);
  if (trigger === 'ONBUILD')
    throw new Failure("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", undefined, at);
  if (trigger === 'MAINTAINER' || trigger === 'FROM') {
    throw new Failure(`${trigger} isn't allowed as an ONBUILD trigger`, undefined, at);
  }
  let expression = ins.original.replace(/^\s*ONBUILD\s*/i, '');
  for (const h of ins.heredocs) expression += `\n${h.content}${h.name}`;
  return { kind: 'onbuild', expression, ...base(ins) };
}

function parseVolume(ins: Instruction): Command {
  if (ins.args.length === 0) throw atLeastOne('VOLUME');
  flags(ins, {});
  const volumes: string[] = [];
  for (const [i, v] of ins.args.entries()) {
    const trimmed = v.trim();
    if (trimmed === '') {
      const at = argAt(ins.location, i);
      throw new Failure('VOLUME specified can not be an empty string', undefined, at);
    }
    volumes.push(trimmed);
  }
  return { kind: 'volume', volumes, ...base(ins) };
}

function parseArg(ins: Instruction): Command {
  if (ins.args.length < 1) throw atLeastOne('ARG');
  flags(ins, {});
  const defs: ArgDef[] = ins.args.map((arg, i) => {
    const eq = arg.indexOf('=');
    const key = eq < 0 ? arg : arg.slice(0, eq);
    if (key === '')
      throw new Failure('ARG names can not be blank', undefined, argAt(ins.location, i));
    return eq < 0 ? { key } : { key, value: arg.slice(eq + 1) };
  });
  return { kind: 'arg', args: defs, ...base(ins) };
}

function parseShell(ins: Instruction): Command {
  flags(ins, {});
  if (!ins.json) throw new Failure('SHELL requires the arguments to be in JSON form');
  if (ins.args.length === 0) throw new Failure('SHELL requires at least one argument');
  return { kind: 'shell', shell: [...ins.args], ...base(ins) };
}
