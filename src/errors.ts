/**
 * Typed errors with stable codes. Every failure that reaches the user is a KilnError, so the CLI can
 * print it, emit it as a JSON event and pick the exit code without string matching.
 */

/** Where in a Dockerfile (or other input file) an error was found. 1-based line and column. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

export interface KilnErrorOptions {
  location?: SourceLocation;
  hint?: string;
  cause?: unknown;
  /**
   * The word of the input the error is about (a COPY source as expanded), set by code that does
   * not know where that word is written, so that a caller who does can point at it.
   */
  subject?: string;
}

/** Exit code 2: the user's input (flags, Dockerfile) is wrong. Exit code 1: the build failed. */
export type ExitCode = 1 | 2;

export class KilnError extends Error {
  readonly code: string;
  readonly location: SourceLocation | undefined;
  readonly hint: string | undefined;
  readonly exitCode: ExitCode;
  readonly subject: string | undefined;

  constructor(code: string, message: string, exitCode: ExitCode, options: KilnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KilnError';
    this.code = code;
    this.location = options.location;
    this.hint = options.hint;
    this.exitCode = exitCode;
    this.subject = options.subject;
  }
}

/**
 * A copy of `err` that points at `location`, with `hint` when it had none. The copy keeps the
 * error's class, code, message and exit code (callers sort failures by class), and the original
 * stays untouched: the same failure may be shared by several instructions (one pull of an image
 * that two instructions name), and each points at its own word.
 */
export function withLocation<E extends KilnError>(
  err: E,
  location: SourceLocation,
  hint?: string,
): E {
  const copy = Object.create(Object.getPrototypeOf(err) as object) as E;
  Object.assign(copy, err, {
    location,
    hint: err.hint ?? hint,
    message: err.message,
    stack: err.stack,
    cause: err,
  });
  return copy;
}

/** Bad usage or bad input: a flag, a Dockerfile syntax or semantic error. Exit code 2. */
export class InputError extends KilnError {
  constructor(code: string, message: string, options: KilnErrorOptions = {}) {
    super(code, message, 2, options);
    this.name = 'InputError';
  }
}

/** The build itself failed: a step, a pull, a push, the sandbox. Exit code 1. */
export class BuildError extends KilnError {
  constructor(code: string, message: string, options: KilnErrorOptions = {}) {
    super(code, message, 1, options);
    this.name = 'BuildError';
  }
}

/** A Dockerfile error; `location` is required so the message can point at file:line:column. */
export class DockerfileError extends InputError {
  constructor(code: string, message: string, location: SourceLocation, hint?: string) {
    super(code, message, { location, ...(hint === undefined ? {} : { hint }) });
    this.name = 'DockerfileError';
  }
}

/** A registry operation failed. `reference` names the image or repository, never credentials. */
export class RegistryError extends BuildError {
  readonly reference: string;
  readonly status: number | undefined;

  constructor(code: string, message: string, reference: string, status?: number, cause?: unknown) {
    super(code, message, cause === undefined ? {} : { cause });
    this.name = 'RegistryError';
    this.reference = reference;
    this.status = status;
  }
}

/**
 * An HTTP request failed below HTTP: the connection (refused, reset, closed early), TLS, or a
 * timeout. `code` is the system's own (ECONNRESET, ECONNREFUSED, a TLS code such as
 * DEPTH_ZERO_SELF_SIGNED_CERT) or kiln's for what kiln measures itself: HTTP_CONNECT_TIMEOUT,
 * HTTP_HEADERS_TIMEOUT, HTTP_BODY_TIMEOUT.
 */
export class NetworkError extends BuildError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, cause === undefined ? {} : { cause });
    this.name = 'NetworkError';
  }

  /** Wraps a socket or TLS error, keeping its code; a NetworkError passes through. */
  static from(err: unknown): NetworkError {
    if (err instanceof NetworkError) return err;
    const code = (err as { code?: unknown } | undefined)?.code;
    const message = err instanceof Error ? err.message : String(err);
    return new NetworkError(
      typeof code === 'string' ? code : 'HTTP_CONNECTION_FAILED',
      message,
      err,
    );
  }
}
