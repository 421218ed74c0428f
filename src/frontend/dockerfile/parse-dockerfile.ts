/**
 * BuildKit's Dockerfile parser: bytes to instructions. Directives, line continuations,
 * comments, exec vs shell form, flags and heredoc bodies are handled here; what an instruction
 * means is the instructions layer's business (unknown instructions still parse).
 */

import { DockerfileError } from '../../errors.js';
import { ShellError } from '../shell/shell-error.js';
import { type AstNode, newNode } from './ast-node.js';
import { DirectiveState } from './directives.js';
import { fromByteString, goToLower, toByteString, trimLeftSpace } from './go-string.js';
import { heredocsFromLine } from './heredoc.js';
import type { Heredoc, Instruction, ParsedDockerfile, ParseWarning } from './instruction.js';
import * as lp from './line-parsers.js';
import { splitCommand } from './split-command.js';

const DISPATCH: Record<string, lp.LineParser> = {
  add: lp.parseMaybeJsonToList,
  arg: lp.parseNameOrNameVal,
  cmd: lp.parseMaybeJson,
  copy: lp.parseMaybeJsonToList,
  entrypoint: lp.parseMaybeJson,
  env: lp.parseEnv,
  expose: lp.parseStringsWhitespaceDelimited,
  from: lp.parseStringsWhitespaceDelimited,
  healthcheck: lp.parseHealthConfig,
  label: lp.parseLabel,
  maintainer: lp.parseString,
  onbuild: parseSubCommand,
  run: lp.parseMaybeJson,
  shell: lp.parseMaybeJson,
  stopsignal: lp.parseString,
  user: lp.parseString,
  volume: lp.parseMaybeJsonToList,
  workdir: lp.parseString,
};

const HEREDOC_KEYWORDS = new Set(['add', 'copy', 'run']);

/** Go's bufio.Scanner refuses longer lines; BuildKit reports that as an error. */
const MAX_LINE = 64 * 1024;

function parseSubCommand(rest: string, escapeToken: number): lp.ParsedArgs {
  if (rest === '') return { next: undefined, json: false };
  const holder = newNode();
  holder.children.push(newNodeFromLine(rest, escapeToken));
  return { next: holder, json: false };
}

function newNodeFromLine(line: string, escapeToken: number): AstNode {
  const { keyword, flags, rest } = splitCommand(line);
  const parse = DISPATCH[goToLower(keyword)] ?? lp.parseIgnore;
  const { next, json } = parse(rest, escapeToken);
  const node = newNode(keyword, next);
  node.original = line;
  node.flags = flags;
  node.json = json;
  return node;
}

function canContainHeredoc(node: AstNode): boolean {
  let target = node;
  if (goToLower(node.value) === 'onbuild' && node.next !== undefined) {
    target = node.next.children[0] ?? node;
  }
  return HEREDOC_KEYWORDS.has(goToLower(target.value)) && !target.json;
}

/** Lines with their `\n`, like BuildKit's scanLines. */
class LineScanner {
  private pos = 0;
  line = '';
  tooLong = false;

  constructor(private readonly data: string) {}

  scan(): boolean {
    if (this.tooLong || this.pos >= this.data.length) return false;
    const nl = this.data.indexOf('\n', this.pos);
    const end = nl < 0 ? this.data.length : nl + 1;
    if (end - this.pos > MAX_LINE || (nl < 0 && end - this.pos >= MAX_LINE)) {
      this.tooLong = true;
      return false;
    }
    this.line = this.data.slice(this.pos, end);
    this.pos = end;
    return true;
  }
}

function trimNewline(s: string): string {
  let end = s.length;
  while (end > 0 && (s[end - 1] === '\n' || s[end - 1] === '\r')) end--;
  return s.slice(0, end);
}

function isComment(line: string): boolean {
  return trimLeftSpace(line).startsWith('#');
}

function isEmptyContinuationLine(line: string): boolean {
  return trimLeftSpace(trimNewline(line)).length === 0;
}

function errorAt(file: string, line: number, message: string, code = 'DOCKERFILE_SYNTAX') {
  return new DockerfileError(code, message, { file, line: Math.max(line, 1), column: 1 });
}

/** Parses a Dockerfile. Throws DockerfileError (with file and line) on syntax errors. */
export function parseDockerfile(
  source: string | Uint8Array,
  file = 'Dockerfile',
): ParsedDockerfile {
  const data = toByteString(source);
  const d = new DirectiveState();
  const scanner = new LineScanner(data);
  const ast: AstNode[] = [];
  const warnings: ParseWarning[] = [];
  let currentLine = 0;

  const processLine = (token: string, stripLeft: boolean): string => {
    let t = trimNewline(token);
    if (stripLeft) t = trimLeftSpace(t);
    try {
      d.possibleDirective(t);
    } catch (err) {
      throw errorAt(file, currentLine + 1, (err as Error).message, 'DOCKERFILE_DIRECTIVE');
    }
    return isComment(t) ? '' : t;
  };

  while (scanner.scan()) {
    let bytesRead = scanner.line;
    if (currentLine === 0 && bytesRead.startsWith('\xef\xbb\xbf')) bytesRead = bytesRead.slice(3);
    bytesRead = processLine(bytesRead, true);
    currentLine++;

    const startLine = currentLine;
    let [text, isEndOfLine] = d.trimContinuation(bytesRead);
    if (isEndOfLine && text.length === 0) continue;
    let line = text;

    let hasEmptyContinuationLine = false;
    while (!isEndOfLine && scanner.scan()) {
      const raw = scanner.line;
      const processed = processLine(raw, false);
      currentLine++;
      if (isComment(raw)) continue;
      if (isEmptyContinuationLine(processed)) {
        hasEmptyContinuationLine = true;
        continue;
      }
      [text, isEndOfLine] = d.trimContinuation(processed);
      line += text;
    }

    if (hasEmptyContinuationLine) {
      warnings.push({
        message: `Empty continuation line found in: ${fromByteString(line)}`,
        line: currentLine,
      });
    }

    let child: AstNode;
    try {
      child = newNodeFromLine(line, d.escapeCode);
    } catch (err) {
      if (err instanceof lp.LineParseError) throw errorAt(file, startLine, err.message);
      throw err;
    }

    if (canContainHeredoc(child) && line.includes('<<')) {
      let docs: ReturnType<typeof heredocsFromLine>;
      try {
        docs = heredocsFromLine(line);
      } catch (err) {
        if (err instanceof ShellError) throw errorAt(file, startLine, err.message);
        throw err;
      }
      for (const doc of docs) {
        let terminated = false;
        while (scanner.scan()) {
          const raw = scanner.line;
          currentLine++;
          let candidate = trimNewline(raw);
          if (doc.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === doc.name) {
            terminated = true;
            break;
          }
          doc.content += raw;
        }
        if (!terminated) {
          throw errorAt(file, startLine, 'unterminated heredoc', 'DOCKERFILE_HEREDOC');
        }
        child.heredocs.push(doc);
      }
    }

    child.startLine = startLine;
    child.endLine = currentLine;
    ast.push(child);
  }

  if (scanner.tooLong) {
    throw errorAt(
      file,
      currentLine + 1,
      `dockerfile line greater than max allowed size of ${MAX_LINE - 1}`,
      'DOCKERFILE_LINE_TOO_LONG',
    );
  }
  if (ast.length === 0) {
    throw errorAt(file, currentLine, 'file with no instructions', 'DOCKERFILE_EMPTY');
  }

  return {
    file,
    directives: d.directives(),
    instructions: ast.map((node) => toInstruction(node, file)),
    warnings,
    ast,
  };
}

function nodeArgs(node: AstNode): string[] {
  const out: string[] = [];
  for (let n = node.next; n !== undefined; n = n.next) {
    const sub = n.children[0];
    if (sub === undefined) {
      out.push(fromByteString(n.value));
    } else {
      out.push(fromByteString(sub.value), ...nodeArgs(sub));
    }
  }
  return out;
}

function keywordColumn(original: string): number {
  return original.length - trimLeftSpace(original).length + 1;
}

function toInstruction(node: AstNode, file: string): Instruction {
  const heredocs: Heredoc[] = node.heredocs.map((h) => ({
    name: fromByteString(h.name),
    content: fromByteString(h.content),
    expand: h.expand,
    chomp: h.chomp,
    fd: h.fd,
  }));
  const instruction: Instruction = {
    keyword: fromByteString(goToLower(node.value)),
    rawKeyword: fromByteString(node.value),
    original: fromByteString(node.original),
    flags: node.flags.map(fromByteString),
    args: nodeArgs(node),
    json: node.json,
    heredocs,
    location: {
      file,
      line: node.startLine,
      column: keywordColumn(node.original),
      endLine: node.endLine,
    },
  };
  const sub = node.next?.children[0];
  if (sub !== undefined) {
    sub.startLine = node.startLine;
    sub.endLine = node.endLine;
    instruction.inner = toInstruction(sub, file);
  }
  return instruction;
}
