/**
 * What the instruction parsers share: the failure they throw (turned into a DockerfileError at the
 * word at fault by parseInstruction), flag parsing, and the parts every command carries.
 */

import type { SourceLocation } from '../../errors.js';
import type { Instruction } from '../dockerfile/instruction.js';
import { BFlags, type FlagKind } from './bflags.js';
import type { CommandLine, InlineFile } from './commands.js';

/** An invalid instruction; `at` is the word at fault (the keyword when not given). */
export class Failure extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly at?: SourceLocation,
  ) {
    super(message);
  }
}

export const atLeastOne = (cmd: string) => new Failure(`${cmd} requires at least one argument`);
export const exactlyOne = (cmd: string) => new Failure(`${cmd} requires exactly one argument`);
export const noDest = (cmd: string) =>
  new Failure(
    `${cmd} requires at least two arguments, but only one was provided. ` +
      'Destination could not be determined.',
  );

/** The instruction's flags, checked against what it declares. */
export function flags(ins: Instruction, decl: Record<string, FlagKind>): BFlags {
  return new BFlags(ins.flags).parse(decl);
}

/** The fields every command carries: its text and where it is. */
export function base(ins: Instruction) {
  return { original: ins.original, location: ins.location };
}

/** A heredoc's body as an inline file of the command. */
function inlineFiles(ins: Instruction): InlineFile[] {
  return ins.heredocs.map((h) => ({
    name: h.name,
    data: h.content,
    expand: h.expand,
    chomp: h.chomp,
    fd: h.fd,
  }));
}

/** The command of RUN, CMD or ENTRYPOINT: its words, form and heredocs, unexpanded. */
export function commandLine(ins: Instruction): CommandLine {
  return { cmdLine: [...ins.args], prependShell: !ins.json, files: inlineFiles(ins) };
}
