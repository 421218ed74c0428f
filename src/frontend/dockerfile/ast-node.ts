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
}

export function newNode(value = '', next?: AstNode): AstNode {
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
  };
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
