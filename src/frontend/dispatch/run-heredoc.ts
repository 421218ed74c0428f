import { DockerfileError, type SourceLocation } from '../../errors.js';
import { chompHeredocContent, parseHeredocMarker } from '../dockerfile/index.js';
import type { CommandLine } from '../instructions/commands.js';
import { ShellError } from '../shell/shell-error.js';

/** Where a heredoc script is mounted in the step, read-only, as BuildKit mounts it. */
export const HEREDOC_SCRIPT_DIR = '/dev/pipes';

/** What a RUN with heredocs runs: the words for the shell and, maybe, a script file. */
export interface RunHeredoc {
  /** The shell-form command line that replaces the one written. */
  args: string[];
  /** A heredoc run as a file by its `#!` interpreter, at HEREDOC_SCRIPT_DIR/name. */
  script?: { name: string; content: string };
  /** Appended to the step's name: the heredoc's first line, as BuildKit shows it. */
  summary?: string;
}

/**
 * BuildKit's three cases. The heredoc is the whole command (`RUN <<EOF`): with a body starting
 * `#!` it becomes an executable file that the shell runs (so the kernel picks the interpreter),
 * else the body is the shell script. Anything else (`RUN python3 <<EOF`, `RUN <<A <<B`) goes to
 * the shell with the bodies put back after the command line, and the shell reads them itself.
 * Bodies are never expanded by kiln here: the shell or the interpreter does that.
 */
export function runHeredoc(command: CommandLine, location: SourceLocation): RunHeredoc {
  const files = command.files;
  const args = command.cmdLine;
  if (!command.prependShell) {
    throw new DockerfileError(
      'RUN_HEREDOC_EXEC_FORM',
      'RUN in exec form cannot take a heredoc',
      location,
    );
  }
  const first = files[0];
  if (first === undefined || args.length !== 1 || !isWholeCommand(args[0] as string)) {
    return { args: [[args.join(' '), ...files.map((f) => f.data + f.name)].join('\n')] };
  }

  const content = first.chomp ? chompHeredocContent(first.data) : first.data;
  const summary = summarize(first.data);
  // The raw body decides, before <<- removes tabs, as in BuildKit.
  if (!first.data.startsWith('#!')) return { args: [content], summary };
  if (first.name.includes('/') || first.name === '.' || first.name === '..') {
    throw new DockerfileError(
      'RUN_HEREDOC_NAME',
      `RUN <<${first.name}: a script heredoc's name must be a file name`,
      location,
    );
  }
  return {
    args: [`${HEREDOC_SCRIPT_DIR}/${first.name}`],
    script: { name: first.name, content },
    summary,
  };
}

/** Whether the command line is one heredoc marker and nothing else. */
function isWholeCommand(line: string): boolean {
  try {
    return parseHeredocMarker(line.trim()) !== undefined;
  } catch (err) {
    if (err instanceof ShellError) return false;
    throw err;
  }
}

/** The first non-blank line, with `...` when more follows. */
function summarize(data: string): string {
  const lines = data.trim().replaceAll('\r\n', '\n').split('\n');
  return lines.length > 1 ? `${lines[0]}...` : (lines[0] ?? '');
}
