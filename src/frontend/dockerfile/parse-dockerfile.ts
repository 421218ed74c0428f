/**
 * BuildKit's Dockerfile parser: bytes to instructions. Directives, line continuations,
 * comments, exec vs shell form, flags and heredoc bodies are handled here; what an instruction
 * means is the instructions layer's business (unknown instructions still parse).
 */

import { DockerfileError, type SourceLocation } from '../../errors.js';
import { ShellError } from '../shell/shell-error.js';
import { type AstNode, newNode, shiftOffsets } from './ast-node.js';
import { DirectiveError, DirectiveState } from './directives.js';
import { fromByteString, goToLower, toByteString, trimLeftSpace } from './go-string.js';
import { heredocsFromLine, markerOffsets } from './heredoc.js';
import type {
  FlagLocation,
  Heredoc,
  Instruction,
  ParsedDockerfile,
  ParseWarning,
} from './instruction.js';
import * as lp from './line-parsers.js';
import { columnAfter, type LinePiece, SourceMap } from './source-map.js';
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

/** An instruction node; every offset in it is relative to `line`. */
function newNodeFromLine(line: string, escapeToken: number): AstNode {
  const split = splitCommand(line);
  const parse = DISPATCH[goToLower(split.keyword)] ?? lp.parseIgnore;
  let parsed: lp.ParsedArgs;
  try {
    parsed = parse(split.rest, escapeToken);
  } catch (err) {
    if (!(err instanceof lp.LineParseError)) throw err;
    const at = err.offset === undefined ? split.keywordOffset : split.restOffset + err.offset;
    throw new lp.LineParseError(err.message, at);
  }
  if (parsed.next !== undefined) shiftOffsets(parsed.next, split.restOffset);
  const node = newNode(split.keyword, parsed.next, split.keywordOffset);
  node.original = line;
  node.flags = split.flags;
  node.flagOffsets = split.flagOffsets;
  node.json = parsed.json;
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

function errorAt(
  where: SourceLocation | { file: string; line: number },
  message: string,
  code = 'DOCKERFILE_SYNTAX',
) {
  const column = 'column' in where ? where.column : 1;
  return new DockerfileError(code, message, {
    file: where.file,
    line: Math.max(where.line, 1),
    column,
  });
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
  const maps = new Map<AstNode, SourceMap>();
  let currentLine = 0;

  const processLine = (token: string, stripLeft: boolean): string => {
    let t = trimNewline(token);
    const lead = stripLeft ? t.length - trimLeftSpace(t).length : 0;
    t = t.slice(lead);
    try {
      d.possibleDirective(t);
    } catch (err) {
      if (!(err instanceof DirectiveError)) throw err;
      const column = columnAfter(token.slice(0, lead + err.offset));
      throw errorAt({ file, line: currentLine + 1, column }, err.message, 'DOCKERFILE_DIRECTIVE');
    }
    return isComment(t) ? '' : t;
  };

  while (scanner.scan()) {
    let bytesRead = scanner.line;
    if (currentLine === 0 && bytesRead.startsWith('\xef\xbb\xbf')) bytesRead = bytesRead.slice(3);
    const indent = columnAfter(
      bytesRead.slice(0, bytesRead.length - trimLeftSpace(bytesRead).length),
    );
    bytesRead = processLine(bytesRead, true);
    currentLine++;

    const startLine = currentLine;
    let [text, isEndOfLine] = d.trimContinuation(bytesRead);
    if (isEndOfLine && text.length === 0) continue;
    let line = text;
    const pieces: LinePiece[] = [{ offset: 0, line: startLine, column: indent }];

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
      pieces.push({ offset: line.length, line: currentLine, column: 1 });
      line += text;
    }
    const map = new SourceMap(file, line, pieces);

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
      if (err instanceof lp.LineParseError) throw errorAt(map.at(err.offset ?? 0), err.message);
      throw err;
    }

    if (canContainHeredoc(child) && line.includes('<<')) {
      let docs: ReturnType<typeof heredocsFromLine>;
      try {
        docs = heredocsFromLine(line);
      } catch (err) {
        if (err instanceof ShellError) throw errorAt(map.at(child.offset), err.message);
        throw err;
      }
      const markers = markerOffsets(line);
      for (const [i, doc] of docs.entries()) {
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
          const at = map.at(markers[i] ?? child.offset);
          throw errorAt(
            at,
            `unterminated heredoc: no line ${doc.name} ends it`,
            'DOCKERFILE_HEREDOC',
          );
        }
        child.heredocs.push(doc);
      }
    }

    child.startLine = startLine;
    child.endLine = currentLine;
    maps.set(child, map);
    ast.push(child);
  }

  if (scanner.tooLong) {
    throw errorAt(
      { file, line: currentLine + 1 },
      `dockerfile line greater than max allowed size of ${MAX_LINE - 1}`,
      'DOCKERFILE_LINE_TOO_LONG',
    );
  }
  if (ast.length === 0) {
    throw errorAt({ file, line: currentLine }, 'file with no instructions', 'DOCKERFILE_EMPTY');
  }

  return {
    file,
    directives: d.directives(),
    instructions: ast.map((node) => toInstruction(node, maps.get(node)!)),
    warnings,
    ast,
  };
}

/** The argument nodes in dump order (ONBUILD's inner keyword first, then its arguments). */
function argNodes(node: AstNode): AstNode[] {
  const out: AstNode[] = [];
  for (let n = node.next; n !== undefined; n = n.next) {
    const sub = n.children[0];
    if (sub === undefined) out.push(n);
    else out.push(sub, ...argNodes(sub));
  }
  return out;
}

/** The flag's name: `from` for `--from=build`. */
function flagName(flag: string): string {
  const body = flag.startsWith('--') ? flag.slice(2) : flag;
  const eq = body.indexOf('=');
  return eq < 0 ? body : body.slice(0, eq);
}

/** @param map where the text of the instruction (ONBUILD's, for its inner one) stands */
function toInstruction(node: AstNode, map: SourceMap): Instruction {
  const heredocs: Heredoc[] = node.heredocs.map((h) => ({
    name: fromByteString(h.name),
    content: fromByteString(h.content),
    expand: h.expand,
    chomp: h.chomp,
    fd: h.fd,
  }));
  const args = argNodes(node);
  const flags = node.flags.map(fromByteString);
  const keyword = map.at(node.offset);
  const instruction: Instruction = {
    keyword: fromByteString(goToLower(node.value)),
    rawKeyword: fromByteString(node.value),
    original: fromByteString(node.original),
    flags,
    args: args.map((n) => fromByteString(n.value)),
    json: node.json,
    heredocs,
    location: {
      ...keyword,
      endLine: node.endLine,
      flags: flags.map(
        (f, i): FlagLocation => ({
          ...map.at(node.flagOffsets[i] ?? node.offset),
          name: flagName(f),
        }),
      ),
      args: args.map((n) => map.at(n.offset)),
    },
  };
  const sub = node.next?.children[0];
  if (sub !== undefined) {
    sub.startLine = node.startLine;
    sub.endLine = node.endLine;
    instruction.inner = toInstruction(sub, map);
  }
  return instruction;
}
