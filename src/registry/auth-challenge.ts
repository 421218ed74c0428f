/**
 * WWW-Authenticate challenges (RFC 7235) as registries send them:
 * `Bearer realm="https://auth/token",service="registry",scope="repository:a:pull"` or
 * `Basic realm="Registry Realm"`. Several challenges may share one header.
 */

export interface AuthChallenge {
  /** Lower case: `basic` or `bearer`. */
  scheme: string;
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;

class Scanner {
  pos = 0;
  constructor(readonly text: string) {}

  skipSpaces(): void {
    while (this.pos < this.text.length && /[ \t]/.test(this.text[this.pos]!)) this.pos++;
  }

  token(): string | undefined {
    TOKEN.lastIndex = this.pos;
    const m = TOKEN.exec(this.text);
    if (!m) return undefined;
    this.pos += m[0].length;
    return m[0];
  }

  peek(): string | undefined {
    return this.text[this.pos];
  }

  quoted(): string {
    let value = '';
    this.pos++;
    while (this.pos < this.text.length) {
      const ch = this.text[this.pos++]!;
      if (ch === '"') return value;
      if (ch === '\\' && this.pos < this.text.length) value += this.text[this.pos++];
      else value += ch;
    }
    return value;
  }
}

/** Reads `name=value` pairs until the next challenge starts; leaves the scanner after them. */
function readParams(s: Scanner, params: Record<string, string>): void {
  for (;;) {
    s.skipSpaces();
    const start = s.pos;
    const name = s.token();
    s.skipSpaces();
    if (name === undefined || s.peek() !== '=') {
      s.pos = start;
      return;
    }
    s.pos++;
    s.skipSpaces();
    const value = s.peek() === '"' ? s.quoted() : (s.token() ?? '');
    params[name.toLowerCase()] = value;
    s.skipSpaces();
    if (s.peek() !== ',') return;
    s.pos++;
  }
}

/** Parses every challenge in a header value; malformed parts are skipped. */
export function parseChallenges(header: string | string[] | undefined): AuthChallenge[] {
  const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const result: AuthChallenge[] = [];
  for (const value of values) {
    const s = new Scanner(value);
    while (s.pos < value.length) {
      s.skipSpaces();
      while (s.peek() === ',') {
        s.pos++;
        s.skipSpaces();
      }
      const scheme = s.token();
      if (scheme === undefined) {
        s.pos++;
        continue;
      }
      const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params: {} };
      readParams(s, challenge.params);
      result.push(challenge);
    }
  }
  return result;
}
