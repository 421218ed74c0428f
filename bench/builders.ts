/**
 * The builders the bench compares: kiln (this checkout's CLI), BuildKit inside Debian's dockerd
 * 20.10 (started here on a private socket and data root) and buildah. Each keeps its state under
 * the bench's work directory and can be reset to an empty cache.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Measurement, measure, run } from './measure.js';

export interface BuildInput {
  context: string;
  buildArgs: Record<string, string>;
  tag: string;
  noCache?: boolean;
}

export interface Builder {
  readonly name: string;
  start(): Promise<void>;
  /** Drops every cached step and pulled image, so the next build starts cold. */
  reset(): Promise<void>;
  build(input: BuildInput): Promise<Measurement>;
  stop(): Promise<void>;
}

// Proxy variables reach RUN steps as build args when this machine has them set.
const PROXY_VARS = [
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
];

function buildArgFlags(input: BuildInput): string[] {
  const args = Object.entries(input.buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
  for (const name of PROXY_VARS) {
    const value = process.env[name];
    if (value) args.push('--build-arg', `${name}=${value}`);
  }
  return args;
}

function check(m: Measurement, what: string): Measurement {
  if (m.code !== 0) {
    const tail = m.stderr.trim().split('\n').slice(-30).join('\n');
    throw new Error(`${what} failed with exit code ${m.code}:\n${tail}`);
  }
  return m;
}

export class KilnBuilder implements Builder {
  readonly name = 'kiln';
  private readonly cacheDir: string;
  private readonly outDir: string;

  constructor(
    private readonly bin: string,
    work: string,
  ) {
    this.cacheDir = join(work, 'kiln-cache');
    this.outDir = join(work, 'kiln-out');
  }

  async start(): Promise<void> {
    await mkdir(this.cacheDir, { recursive: true });
  }

  async reset(): Promise<void> {
    await rm(this.cacheDir, { recursive: true, force: true });
    await rm(this.outDir, { recursive: true, force: true });
  }

  async build(input: BuildInput): Promise<Measurement> {
    // Each build writes a fresh OCI layout, the artifact a CI job would keep or push.
    await rm(this.outDir, { recursive: true, force: true });
    const args = ['build', '--progress=plain', '--cache-dir', this.cacheDir];
    if (input.noCache) args.push('--no-cache');
    args.push(...buildArgFlags(input), '-t', input.tag);
    args.push('-o', `type=oci,dest=${this.outDir},tar=false`, input.context);
    // kiln's own processes (the CLI and its namespaced child) carry the bin path; RUN steps don't.
    // The bin is run as a program, as `npx kiln` runs it (through its launcher lines).
    const m = await measure(this.bin, args, { ownMarker: this.bin });
    return check(m, 'kiln build');
  }

  async stop(): Promise<void> {
    await this.reset();
  }
}

/** BuildKit as built into dockerd 20.10, driven by Debian's docker client. */
export class BuildKitBuilder implements Builder {
  readonly name = 'buildkit';
  private readonly dir: string;
  private readonly env: NodeJS.ProcessEnv;
  private daemon: ReturnType<typeof spawn> | undefined;

  constructor(work: string) {
    this.dir = join(work, 'dockerd');
    const socket = join(this.dir, 'docker.sock');
    this.env = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_BUILDKIT: '1' };
    // A client config of its own, so nothing in the caller's ~/.docker is read or written.
    this.env.DOCKER_CONFIG = join(this.dir, 'client');
  }

  private docker(args: string[]): Promise<string> {
    return run('/usr/bin/docker', args, { env: this.env });
  }

  async start(): Promise<void> {
    await mkdir(join(this.dir, 'client'), { recursive: true });
    const args = [
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      '-H',
      this.env.DOCKER_HOST as string,
      '--data-root',
      join(this.dir, 'root'),
      '--exec-root',
      join(this.dir, 'exec'),
      '--pidfile',
      join(this.dir, 'dockerd.pid'),
    ];
    this.daemon = spawn('/usr/sbin/dockerd', args, { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const up = await measure('/usr/bin/docker', ['version'], { env: this.env, sampleMs: 1000 });
      if (up.code === 0) return;
      if (this.daemon.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error('dockerd did not come up on its private socket');
  }

  /** dockerd and everything it started (containerd, shims, the RUN steps). */
  daemonRoots(): number[] {
    return this.daemon?.pid ? [this.daemon.pid] : [];
  }

  async reset(): Promise<void> {
    await this.docker(['builder', 'prune', '-af']);
    await this.docker(['image', 'prune', '-af']);
  }

  async build(input: BuildInput): Promise<Measurement> {
    const args = ['build', '--progress=plain', '--network=host', ...buildArgFlags(input)];
    if (input.noCache) args.push('--no-cache');
    args.push('-t', input.tag, input.context);
    const m = check(
      await measure('/usr/bin/docker', args, {
        env: this.env,
        extraRoots: () => this.daemonRoots(),
      }),
      'docker build',
    );
    // The classic builder prints "Step 1/N"; BuildKit numbers its vertices "#1 [stage 1/N]".
    if (!/^#\d+ /m.test(m.stderr) || /^Step \d+\/\d+ :/m.test(m.stderr)) {
      throw new Error('docker build did not run BuildKit (no "#N" progress lines)');
    }
    return m;
  }

  async stop(): Promise<void> {
    if (this.daemon && this.daemon.exitCode === null) {
      const exited = new Promise((r) => this.daemon?.once('exit', r));
      this.daemon.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    }
    // Overlay mounts of a daemon that did not stop cleanly would keep the data root busy.
    await run('/bin/sh', [
      '-c',
      `grep -o ' ${this.dir}[^ ]*' /proc/mounts | sort -r | xargs -r umount -l`,
    ]).catch(() => '');
    await rm(this.dir, { recursive: true, force: true });
  }
}

export class BuildahBuilder implements Builder {
  readonly name = 'buildah';
  private readonly dir: string;

  constructor(work: string) {
    this.dir = join(work, 'buildah');
  }

  private global(): string[] {
    return [
      '--root',
      join(this.dir, 'root'),
      '--runroot',
      join(this.dir, 'run'),
      '--storage-driver',
      'overlay',
    ];
  }

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  async reset(): Promise<void> {
    if (!existsSync(join(this.dir, 'root'))) return;
    await run('/usr/bin/buildah', [...this.global(), 'rm', '--all']);
    await run('/usr/bin/buildah', [...this.global(), 'rmi', '--all', '--force']);
  }

  async build(input: BuildInput): Promise<Measurement> {
    // --layers keeps a cached image per step, buildah's equivalent of a build cache; chroot
    // isolation and the host network match how kiln and rootless BuildKit run steps.
    const args = [
      ...this.global(),
      'bud',
      '--layers',
      '--isolation',
      'chroot',
      '--network',
      'host',
    ];
    args.push('--tls-verify=false', ...buildArgFlags(input));
    if (input.noCache) args.push('--no-cache');
    args.push('-t', input.tag, input.context);
    return check(await measure('/usr/bin/buildah', args), 'buildah bud');
  }

  async stop(): Promise<void> {
    await this.reset().catch(() => undefined);
    await run('/bin/sh', [
      '-c',
      `grep -o ' ${this.dir}[^ ]*' /proc/mounts | sort -r | xargs -r umount -l`,
    ]).catch(() => '');
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Whether a builder's binaries are installed. */
export function installed(name: string): boolean {
  const bins: Record<string, string[]> = {
    buildkit: ['/usr/sbin/dockerd', '/usr/bin/docker'],
    buildah: ['/usr/bin/buildah'],
  };
  return (bins[name] ?? []).every((b) => existsSync(b));
}
