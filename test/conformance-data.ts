/**
 * Locates BuildKit's conformance data (../shared/conformance beside the checkout, or
 * KILN_CONFORMANCE_DIR) and reads it as raw bytes. Missing data is an error, never a skip.
 */

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// Compiled to dist/test/, so the checkout is two levels up.
const repoRoot = resolve(here, '..', '..');

export const conformanceDir =
  process.env.KILN_CONFORMANCE_DIR ?? resolve(repoRoot, '..', 'shared', 'conformance');

export function requireDir(path: string): string {
  if (!existsSync(path)) {
    throw new Error(`conformance data missing: ${path} (set KILN_CONFORMANCE_DIR)`);
  }
  return path;
}

export function readRaw(...parts: string[]): Buffer {
  const path = join(conformanceDir, ...parts);
  if (!existsSync(path)) throw new Error(`conformance file missing: ${path}`);
  return readFileSync(path);
}

export function listCases(...parts: string[]): string[] {
  return readdirSync(requireDir(join(conformanceDir, ...parts))).sort();
}
