import * as posix from 'node:path/posix';
import { DockerfileError, type SourceLocation } from '../../errors.js';
import type { CopySource, RunMount } from '../../graph/plan.js';
import type { Platform } from '../../image/oci-types.js';
import type { MountSpec } from '../instructions/mount-spec.js';
import { checkImageReference } from './check-words.js';
import type { Expander } from './expand.js';
import type { StageState } from './stage-state.js';

export interface MountScope {
  stageIndex(name: string): number | undefined;
  platform: Platform;
}

/** Where BuildKit puts secrets and agent sockets when the mount names no target. */
const SECRETS_DIR = '/run/secrets';
const SSH_SOCKET_PREFIX = '/run/buildkit/ssh_agent.';

/**
 * Turns the parsed `--mount` flags of one RUN into plan mounts: words expanded in the stage's
 * scope, relative targets put under WORKDIR, defaults filled in as BuildKit fills them, and the
 * stages they read recorded as dependencies.
 */
export function runMounts(
  state: StageState,
  anyX: Expander,
  specs: MountSpec[],
  scope: MountScope,
  mountAt: (i: number) => SourceLocation,
): RunMount[] {
  const cwd = state.config.WorkingDir || '/';
  let sshCount = 0;

  return specs.map((spec, i): RunMount => {
    // Errors in a mount point at its --mount flag.
    const location = mountAt(i);
    const x = anyX.at(location);
    const abs = (p: string): string => posix.resolve(cwd, x.word(p));
    const from =
      spec.from === undefined ? undefined : mountFrom(state, x.word(spec.from), scope, location);
    if (from?.kind === 'stage') state.dependsOn.add(from.stage);
    const source = spec.source === undefined ? '' : x.word(spec.source);
    switch (spec.type) {
      case 'bind':
        return {
          type: 'bind',
          target: abs(required(spec.target, location)),
          source,
          from: from ?? { kind: 'context' },
          readOnly: spec.readOnly,
        };
      case 'cache': {
        const target = abs(required(spec.target, location));
        return {
          type: 'cache',
          target,
          id: spec.id === undefined ? target : x.word(spec.id),
          sharing: spec.sharing,
          ...(from === undefined ? {} : { from }),
          source,
          readOnly: spec.readOnly,
          mode: spec.mode ?? 0o755,
          uid: spec.uid ?? 0,
          gid: spec.gid ?? 0,
        };
      }
      case 'tmpfs':
        return {
          type: 'tmpfs',
          target: abs(required(spec.target, location)),
          ...(spec.size === undefined ? {} : { size: spec.size }),
        };
      case 'secret':
        return secretMount(spec, x, abs);
      case 'ssh': {
        const index = sshCount++;
        return {
          type: 'ssh',
          id: spec.id === undefined ? 'default' : x.word(spec.id),
          target: spec.target === undefined ? `${SSH_SOCKET_PREFIX}${index}` : abs(spec.target),
          required: spec.required,
          mode: spec.mode ?? 0o600,
          uid: spec.uid ?? 0,
          gid: spec.gid ?? 0,
        };
      }
      default:
        throw new Error(`unknown mount type ${String(spec.type)}`);
    }
  });
}

function secretMount(spec: MountSpec, x: Expander, abs: (p: string) => string): RunMount {
  const target = spec.target === undefined ? undefined : abs(spec.target);
  const env = spec.env === undefined ? undefined : x.word(spec.env);
  // BuildKit: the id defaults to the target's base name; a mount with only env= is named by it.
  const id =
    spec.id !== undefined ? x.word(spec.id) : target ? posix.basename(target) : (env ?? '');
  const file = target ?? (env === undefined ? posix.join(SECRETS_DIR, id) : undefined);
  return {
    type: 'secret',
    id,
    ...(file === undefined ? {} : { target: file }),
    ...(env === undefined ? {} : { env }),
    required: spec.required,
    mode: spec.mode ?? 0o400,
    uid: spec.uid ?? 0,
    gid: spec.gid ?? 0,
  };
}

function mountFrom(
  state: StageState,
  from: string,
  scope: MountScope,
  location: SourceLocation,
): CopySource {
  const index = scope.stageIndex(from);
  if (index !== undefined) return { kind: 'stage', stage: index };
  if (from.toLowerCase() === state.label) {
    throw new DockerfileError(
      'RUN_MOUNT_FROM_SELF',
      `RUN --mount from=${from}: a stage cannot mount itself`,
      location,
    );
  }
  checkImageReference(from, location);
  return { kind: 'image', ref: from, platform: scope.platform };
}

function required(target: string | undefined, location: SourceLocation): string {
  if (target === undefined || target === '') {
    throw new DockerfileError('RUN_MOUNT_INVALID', 'RUN --mount: target is required', location);
  }
  return target;
}
