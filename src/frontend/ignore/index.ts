export { contextIgnore } from './context-ignore.js';
export { cleanPath, findIgnoreFile, type IgnoreFile, IgnoreMatcher } from './ignore-matcher.js';
export { leaveOutOwnPaths, type OwnPath, ownPathsInContext } from './own-paths.js';
