import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { pushFixture } from './images.js';
import { startRegistry, type TestRegistry } from './registry.js';

/** What most integration tests start from: a registry with busybox in it, and a work dir. */
export interface BusyboxRegistry {
  registry: TestRegistry;
  /** The busybox base image's reference in the registry. */
  base: string;
  /** A fresh temp dir, removed after the suite. */
  work: string;
}

/**
 * Registers before/after hooks in the calling suite that start a registry on loopback, push the
 * busybox fixture and make a work dir, and tear them down. Read the fields inside tests only.
 */
export function useBusyboxRegistry(prefix: string): BusyboxRegistry {
  const state = {} as BusyboxRegistry;
  before(async () => {
    state.registry = await startRegistry();
    state.base = await pushFixture('busybox', state.registry.host);
    state.work = await mkdtemp(join(tmpdir(), `kiln-${prefix}-`));
  });
  after(async () => {
    await state.registry?.stop();
    if (state.work) await rm(state.work, { recursive: true, force: true });
  });
  return state;
}
