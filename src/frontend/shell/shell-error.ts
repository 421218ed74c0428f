import { InputError } from '../../errors.js';

/**
 * A word could not be expanded (unterminated quote, bad `${}` syntax, `${v:?message}`). It has
 * no location: the parser or the dispatcher knows the instruction and wraps it.
 */
export class ShellError extends InputError {
  constructor(message: string) {
    super('DOCKERFILE_SHELL', message);
    this.name = 'ShellError';
  }
}
