/**
 * Platform matching for picking one manifest out of an index, following containerd's rules: the
 * architecture is normalized (x86_64 is amd64, aarch64 is arm64), arm64 without a variant means v8
 * and arm without a variant means v7, and an empty variant on either side of a non-arm platform
 * matches.
 */
import { InputError } from '../errors.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
}

const ARCH_ALIASES: Record<string, string> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
  i386: '386',
};

/** Normalizes architecture names and the default arm variants. */
export function normalizePlatform(platform: Platform): Platform {
  const os = platform.os.toLowerCase();
  const architecture = ARCH_ALIASES[platform.architecture.toLowerCase()] ?? platform.architecture;
  let variant = platform.variant?.toLowerCase();
  if (architecture === 'arm64' && (variant === undefined || variant === '' || variant === '8')) {
    variant = 'v8';
  } else if (architecture === 'arm' && (variant === undefined || variant === '')) {
    variant = 'v7';
  } else if (architecture === 'arm' && /^[5-8]$/.test(variant ?? '')) {
    variant = `v${variant}`;
  } else if (architecture === 'amd64' && variant === 'v1') {
    variant = undefined;
  }
  const result: Platform = { os, architecture };
  if (variant) result.variant = variant;
  if (platform['os.version']) result['os.version'] = platform['os.version'];
  return result;
}

/** Parses `os/arch[/variant]` (`linux/arm64/v8`); throws InputError when malformed. */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new InputError('PLATFORM_INVALID', `invalid platform "${text}"`, {
      hint: 'write os/architecture[/variant], for example linux/amd64 or linux/arm64/v8',
    });
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return normalizePlatform({ os, architecture, ...(variant ? { variant } : {}) });
}

export function formatPlatform(platform: Platform): string {
  const p = normalizePlatform(platform);
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** Whether `candidate` (from an index) satisfies the wanted platform. */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  const w = normalizePlatform(wanted);
  const c = normalizePlatform(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture) return false;
  if (w.variant === undefined || c.variant === undefined) return true;
  return w.variant === c.variant;
}

/** The platform of this Node process, as OCI names it. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm' };
  const architecture = arch[process.arch] ?? process.arch;
  const platform: Platform = { os: process.platform, architecture };
  if (process.arch === 'arm') {
    const version = (process.config.variables as Record<string, unknown>).arm_version;
    if (version) platform.variant = `v${version}`;
  }
  return normalizePlatform(platform);
}
