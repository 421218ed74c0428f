export { ShellError } from './shell-error.js';
export {
  type EnvGetter,
  expandWord,
  expandWords,
  expandWordWithMatches,
  type ProcessWordResult,
  type ShellEnv,
  ShellLexer,
  type ShellLexerOptions,
} from './shell-lexer.js';
