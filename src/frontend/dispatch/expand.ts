import { DockerfileError, type SourceLocation } from '../../errors.js';
import { expandWord, expandWords } from '../shell/shell-lexer.js';
import { expansionEnv, type StageState } from './stage-state.js';

/** Expansion bound to one stage and one instruction, turning lexer errors into located ones. */
export interface Expander {
  word(text: string): string;
  words(text: string): string[];
}

export function expanderFor(
  state: StageState,
  escapeChar: string,
  location: SourceLocation,
): Expander {
  const env = expansionEnv(state);
  const wrap = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof DockerfileError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new DockerfileError('EXPANSION_FAILED', message, location);
    }
  };
  return {
    word: (text) => wrap(() => expandWord(text, env, escapeChar)),
    words: (text) => wrap(() => expandWords(text, env, escapeChar)),
  };
}
