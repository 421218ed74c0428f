export { cleanPath, findIgnoreFile, type IgnoreFile, IgnoreMatcher } from './ignore-matcher.js';
