/** BuildKit's BFlags: typed `--name=value` flags of one instruction. */

export type FlagKind = 'bool' | 'string' | 'strings';

/** A bad flag; `index` is its place among the instruction's flags, for the error's location. */
export class FlagError extends Error {
  constructor(
    message: string,
    readonly index: number,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export class BFlags {
  private readonly kinds = new Map<string, FlagKind>();
  private readonly values = new Map<string, string[]>();

  constructor(private readonly raw: readonly string[]) {}

  /** Declares the flags this instruction accepts, then parses them. */
  parse(decl: Record<string, FlagKind>): this {
    for (const [name, kind] of Object.entries(decl)) this.kinds.set(name, kind);
    for (const [i, arg] of this.raw.entries()) this.parseOne(arg, i);
    return this;
  }

  private parseOne(arg: string, i: number): void {
    if (!arg.startsWith('--')) throw new FlagError(`Arg should start with -- : ${arg}`, i);
    const body = arg.slice(2);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? undefined : body.slice(eq + 1);
    const kind = this.kinds.get(name);
    if (kind === undefined) {
      const valid = [...this.kinds.keys()].map((k) => `--${k}`);
      const hint =
        valid.length === 0 ? 'this instruction takes no flags' : `valid flags: ${valid.join(', ')}`;
      throw new FlagError(`unknown flag: ${name}`, i, hint);
    }
    if (this.values.has(name) && kind !== 'strings') {
      throw new FlagError(`Duplicate flag specified: ${name}`, i);
    }
    if (kind === 'bool') {
      const v = value === undefined ? 'true' : value.toLowerCase();
      if (v !== 'true' && v !== 'false') {
        throw new FlagError(`expecting boolean value for flag ${name}, not: ${value}`, i);
      }
      this.values.set(name, [v]);
      return;
    }
    if (value === undefined) throw new FlagError(`Missing a value on flag: ${name}`, i);
    this.values.set(name, [...(this.values.get(name) ?? []), value]);
  }

  string(name: string): string | undefined {
    return this.values.get(name)?.[0];
  }

  strings(name: string): string[] {
    return this.values.get(name) ?? [];
  }

  bool(name: string): boolean {
    return this.values.get(name)?.[0] === 'true';
  }

  /** Whether a bool flag was given at all (`--link=false` counts). */
  has(name: string): boolean {
    return this.values.has(name);
  }
}
