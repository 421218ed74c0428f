import { DockerfileError, type SourceLocation } from '../../errors.js';
import { expandWord, expandWords } from '../shell/shell-lexer.js';
import { expansionEnv, type StageState } from './stage-state.js';

/**
 * Expansion bound to one stage and one place in the Dockerfile, turning lexer errors into
 * located ones. `at` binds the same expansion to another place: the word being expanded, so an
 * unterminated quote or `${` is reported at its word rather than at the instruction.
 */
export interface Expander {
  word(text: string, at?: SourceLocation): string;
  words(text: string, at?: SourceLocation): string[];
  at(location: SourceLocation): Expander;
}

export function expanderFor(
  state: StageState,
  escapeChar: string,
  location: SourceLocation,
): Expander {
  return bind(expansionEnv(state), escapeChar, location);
}

function bind(
  env: ReturnType<typeof expansionEnv>,
  escapeChar: string,
  location: SourceLocation,
): Expander {
  const wrap = <T>(fn: () => T, at: SourceLocation | undefined): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof DockerfileError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new DockerfileError('EXPANSION_FAILED', message, at ?? location);
    }
  };
  return {
    word: (text, at) => wrap(() => expandWord(text, env, escapeChar), at),
    words: (text, at) => wrap(() => expandWords(text, env, escapeChar), at),
    at: (other) => bind(env, escapeChar, other),
  };
}
