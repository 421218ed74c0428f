/**
 * BuildKit's parse tree, kept close to its shape because the dump format is defined by it:
 * an instruction node's `next` chain holds its arguments; ONBUILD's argument node holds the
 * inner instruction in `children`. All strings here are byte strings (see go-string.ts).
 */

import { goQuote, goToLower, trimSpace } from './go-string.js';

export interface RawHeredoc {
  name: string;
  fd: number;
  expand: boolean;
  chomp: boolean;
  content: string;
}

export interface AstNode {
  value: string;
  next: AstNode | undefined;
  children: AstNode[];
  heredocs: RawHeredoc[];
  json: boolean;
  original: string;
  flags: string[];
  startLine: number;
  endLine: number;
  /** Where this node's text starts in the instruction's joined text (bytes; not dumped). */
  offset: number;
  /** Where each of `flags` starts in the joined text. */
  flagOffsets: number[];
}

export function newNode(value = '', next?: AstNode, offset = 0): AstNode {
  return {
    value,
    next,
    children: [],
    heredocs: [],
    json: false,
    original: '',
    flags: [],
    startLine: 0,
    endLine: 0,
    offset,
    flagOffsets: [],
  };
}

/** Moves the offsets of a node, its arguments and its children by `delta`. */
export function shiftOffsets(node: AstNode, delta: number): void {
  for (let n: AstNode | undefined = node; n !== undefined; n = n.next) {
    n.offset += delta;
    n.flagOffsets = n.flagOffsets.map((o) => o + delta);
    for (const child of n.children) shiftOffsets(child, delta);
  }
}

/** One node as BuildKit's Node.Dump prints it (byte string result). */
export function dumpNode(node: AstNode): string {
  let str = goToLower(node.value);
  if (node.flags.length > 0) str += ` [${node.flags.map(goQuote).join(' ')}]`;
  for (const child of node.children) str += `(${dumpNode(child)})\n`;
  for (let n = node.next; n !== undefined; n = n.next) {
    str += n.children.length > 0 ? ` ${dumpNode(n)}` : ` ${goQuote(n.value)}`;
  }
  return trimSpace(str);
}
