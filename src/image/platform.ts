/**
 * Platforms (os/architecture/variant): parsing, normalizing the many spellings of one CPU, the
 * host's platform, and picking the manifest for a platform out of an index.
 */
import { InputError } from '../errors.js';
import type { Descriptor, Index, Platform } from './oci-types.js';

const ARCH_ALIASES: Record<string, string> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  amd64: 'amd64',
  aarch64: 'arm64',
  arm64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
  arm: 'arm',
  i386: '386',
  i686: '386',
  x86: '386',
  '386': '386',
};

/** Brings a platform to the canonical spelling containerd uses, so two spellings compare equal. */
export function normalizePlatform(platform: Platform): Platform {
  const rawArch = platform.architecture.toLowerCase();
  const architecture = ARCH_ALIASES[rawArch] ?? rawArch;
  let variant = platform.variant?.toLowerCase();
  if (variant !== undefined && /^\d+$/.test(variant)) variant = 'v' + variant;
  // containerd (and so BuildKit's TARGETPLATFORM and image configs) spells arm64's only common
  // variant as no variant at all: `linux/arm64`, never `linux/arm64/v8`.
  if (architecture === 'arm64' && (variant === 'v8' || variant === 'v8.0')) variant = undefined;
  if (architecture === 'arm' && variant === undefined) variant = rawArch === 'armel' ? 'v6' : 'v7';
  if (variant === '') variant = undefined;

  const result: Platform = { architecture, os: platform.os.toLowerCase() };
  if (platform['os.version'] !== undefined) result['os.version'] = platform['os.version'];
  if (platform['os.features'] !== undefined) result['os.features'] = platform['os.features'];
  if (variant !== undefined) result.variant = variant;
  return result;
}

const KNOWN_OS = new Set([
  'aix',
  'android',
  'darwin',
  'dragonfly',
  'freebsd',
  'illumos',
  'ios',
  'js',
  'linux',
  'netbsd',
  'openbsd',
  'plan9',
  'solaris',
  'wasip1',
  'windows',
]);

/** Go's GOARCH values (after normalization), as containerd's platform parser knows them. */
const KNOWN_ARCH = new Set([
  '386',
  'amd64',
  'amd64p32',
  'arm',
  'armbe',
  'arm64',
  'arm64be',
  'loong64',
  'mips',
  'mipsle',
  'mips64',
  'mips64le',
  'mips64p32',
  'mips64p32le',
  'ppc',
  'ppc64',
  'ppc64le',
  'riscv',
  'riscv64',
  's390',
  's390x',
  'sparc',
  'sparc64',
  'wasm',
]);

function invalid(spec: string, why: string): InputError {
  return new InputError('PLATFORM_INVALID', `invalid platform '${spec}': ${why}`, {
    hint: "use the form 'os/arch[/variant]', e.g. 'linux/arm64'",
  });
}

/**
 * Parses `os/arch[/variant]` (as --platform spells it), as containerd does: a bare OS name means
 * that OS on the host's architecture, any other bare word is an architecture on linux.
 */
export function parsePlatform(spec: string): Platform {
  if (spec.includes(',')) {
    throw new InputError(
      'PLATFORM_MULTIPLE',
      `building for several platforms in one run is not supported: '${spec}'`,
      { hint: 'run kiln once per platform (--platform linux/amd64, then --platform linux/arm64)' },
    );
  }
  const parts = spec.trim().split('/');
  if (parts.some((part) => part === '') || parts.length > 3) {
    throw new InputError('PLATFORM_INVALID', `invalid platform '${spec}'`, {
      hint: "use the form 'os/arch[/variant]', e.g. 'linux/arm64'",
    });
  }
  let platform: Platform;
  if (parts.length === 1) {
    const word = parts[0]!.toLowerCase();
    platform = KNOWN_OS.has(word)
      ? { ...hostPlatform(), os: word }
      : normalizePlatform({ os: 'linux', architecture: word });
  } else {
    platform = { os: parts[0]!, architecture: parts[1]! };
    if (parts[2] !== undefined) platform.variant = parts[2];
    platform = normalizePlatform(platform);
  }
  if (!KNOWN_OS.has(platform.os)) throw invalid(spec, `unknown operating system '${platform.os}'`);
  if (!KNOWN_ARCH.has(platform.architecture)) {
    throw invalid(spec, `unknown architecture '${platform.architecture}'`);
  }
  return platform;
}

export function formatPlatform(platform: Platform): string {
  const p = normalizePlatform(platform);
  return [p.os, p.architecture, p.variant].filter((part) => part !== undefined).join('/');
}

const NODE_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
};

/** The platform this process runs on, from process.arch (and the ARM version Node was built for). */
export function hostPlatform(): Platform {
  const architecture = NODE_ARCH[process.arch] ?? process.arch;
  const platform: Platform = { os: process.platform, architecture };
  if (architecture === 'arm') {
    const vars = process.config.variables as unknown as Record<string, unknown>;
    const armVersion = vars.arm_version;
    if (typeof armVersion === 'string' || typeof armVersion === 'number') {
      platform.variant = 'v' + String(armVersion);
    }
  }
  return normalizePlatform(platform);
}

/** Whether `candidate` is exactly `wanted` after normalization (os, architecture and variant). */
export function platformEquals(wanted: Platform, candidate: Platform): boolean {
  const a = normalizePlatform(wanted);
  const b = normalizePlatform(candidate);
  return a.os === b.os && a.architecture === b.architecture && a.variant === b.variant;
}

/**
 * How well `candidate` serves `wanted`: 0 is an exact match, higher is a worse but runnable match
 * (an armv6 image on an armv7 host, a v1 amd64 image on a v3 host), undefined is not runnable.
 */
export function platformMatchRank(wanted: Platform, candidate: Platform): number | undefined {
  const a = normalizePlatform(wanted);
  const b = normalizePlatform(candidate);
  if (a.os !== b.os || a.architecture !== b.architecture) return undefined;
  if (a.variant === b.variant) return 0;
  if (a.architecture !== 'arm' && a.architecture !== 'amd64') return undefined;

  const level = (variant: string | undefined): number =>
    variant === undefined ? (a.architecture === 'amd64' ? 1 : 7) : Number(variant.slice(1));
  const wantedLevel = level(a.variant);
  const candidateLevel = level(b.variant);
  if (Number.isNaN(wantedLevel) || Number.isNaN(candidateLevel)) return undefined;
  if (candidateLevel > wantedLevel) return undefined;
  return wantedLevel - candidateLevel;
}

/** The best manifest descriptor of an index for a platform, or undefined when none can run. */
export function selectManifest(index: Index, wanted: Platform): Descriptor | undefined {
  let best: Descriptor | undefined;
  let bestRank = Number.POSITIVE_INFINITY;
  for (const descriptor of index.manifests) {
    if (descriptor.platform === undefined) continue;
    const rank = platformMatchRank(wanted, descriptor.platform);
    if (rank !== undefined && rank < bestRank) {
      best = descriptor;
      bestRank = rank;
    }
  }
  return best;
}
