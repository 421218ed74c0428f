/**
 * Parser directives (`# syntax=`, `# escape=`, `# check=`): only in the comment lines at the
 * very top; the first other line (an instruction, a blank line, another comment) ends them.
 */

import { trimLeftSpace } from './go-string.js';
import type { Directives } from './instruction.js';

const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/;
const KNOWN = new Set(['syntax', 'escape', 'check']);

/** A bad or repeated directive; `offset` is where its name or value starts in the line. */
export class DirectiveError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

export class DirectiveState {
  escapeCode = 0x5c;
  private done = false;
  private readonly seen = new Map<string, string>();
  private continuation = continuationRegExp('\\');

  /** Looks at one line (a byte string, newline trimmed); throws on a repeated or bad directive. */
  possibleDirective(line: string): void {
    if (this.done) return;
    if (!line.startsWith('#')) {
      this.done = true;
      return;
    }
    const m = DIRECTIVE.exec(trimLeftSpace(line.slice(1)));
    const key = m?.[1]?.toLowerCase();
    if (m === null || key === undefined || !KNOWN.has(key)) {
      this.done = true;
      return;
    }
    if (this.seen.has(key)) {
      throw new DirectiveError(`only one ${key} parser directive can be used`, line.indexOf(m[1]!));
    }
    const value = m[2]!;
    this.seen.set(key, value);
    if (key === 'escape') this.setEscape(value, line.indexOf(value, line.indexOf('=')));
  }

  private setEscape(value: string, offset: number): void {
    if (value !== '`' && value !== '\\') {
      throw new DirectiveError(`invalid escape token '${value}' does not match \` or \\`, offset);
    }
    this.escapeCode = value.charCodeAt(0);
    this.continuation = continuationRegExp(value);
  }

  /**
   * Strips a trailing escape character (and blanks after it). Returns the line and whether it
   * ends the instruction. An escape preceded by another escape does not continue the line.
   */
  trimContinuation(line: string): [string, boolean] {
    const m = this.continuation.exec(line);
    if (m === null) return [line, true];
    return [line.slice(0, m.index) + (m[1] ?? ''), false];
  }

  directives(): Directives {
    const out: Directives = { escape: String.fromCharCode(this.escapeCode) };
    const syntax = this.seen.get('syntax');
    const check = this.seen.get('check');
    if (syntax !== undefined) out.syntax = Buffer.from(syntax, 'latin1').toString('utf8');
    if (check !== undefined) out.check = Buffer.from(check, 'latin1').toString('utf8');
    return out;
  }
}

function continuationRegExp(token: string): RegExp {
  const e = `\\${token}`;
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}
