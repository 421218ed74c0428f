/**
 * The URLs and git repositories of ADD steps, for one build. Their cache-key input is what they
 * hold, as in BuildKit: a download's content digest (with --checksum, the checksum itself, so a
 * cached step downloads nothing) and a repository ref's commit. A file fetched to compute a key
 * is kept in the build's scratch space for the step that then runs, and goes with it.
 */

import { link, mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import type { CopyOp, Vertex } from '../graph/plan.js';
import { type Download, downloadFile } from '../worker/fileops/add-download.js';
import { cloneGitCommit, type GitSpec, resolveGitCommit } from '../worker/fileops/add-git.js';
import { type AddSource, parseAddSource, redactUrl } from '../worker/fileops/add-source.js';

type Remote = Exclude<AddSource, { kind: 'local' }>;

/** The split of an ADD's sources into context paths and remote ones. */
export function splitAddSources(op: CopyOp): { local: string[]; remote: Remote[] } {
  const local: string[] = [];
  const remote: Remote[] = [];
  for (const source of op.sources) {
    const parsed = op.instruction === 'ADD' ? parseAddSource(source) : undefined;
    if (parsed === undefined || parsed.kind === 'local') local.push(source);
    else remote.push(parsed);
  }
  return { local, remote };
}

/**
 * A fetch that fails while the step's key is computed (before the step starts) still points at
 * its instruction, as a failure while it runs does.
 */
export function atStep(err: unknown, vertex: Vertex): unknown {
  if (!(err instanceof BuildError) || err.location) return err;
  return new BuildError(err.code, `${vertex.name}: ${err.message}`, {
    location: vertex.location,
    ...(err.hint ? { hint: err.hint } : {}),
    cause: err,
  });
}

export class AddRemoteSources {
  private readonly downloads = new Map<string, Promise<Download>>();
  private readonly commits = new Map<string, Promise<string>>();

  /** `scratchDir` is the build's scratch space; everything fetched stays below it. */
  constructor(private readonly scratchDir: string) {}

  /** What the remote sources of `op` contribute to its cache key, one value per source. */
  async keyInputs(op: CopyOp, signal?: AbortSignal): Promise<unknown[]> {
    const { remote } = splitAddSources(op);
    return Promise.all(
      remote.map(async (source) => {
        if (source.kind === 'git') {
          return { git: await this.commit(gitSpec(source, op), signal), subdir: source.subdir };
        }
        if (op.checksum !== undefined) return { http: op.checksum, filename: source.filename };
        const download = await this.download(source.url, op.checksum, signal);
        return { http: download.digest, filename: source.filename };
      }),
    );
  }

  /**
   * Puts the remote sources of `op` into `dir` as the names copyFiles takes as inline sources:
   * a download under its file name, a repository as a directory whose contents are copied.
   */
  async materialize(op: CopyOp, dir: string, signal?: AbortSignal): Promise<string[]> {
    const { remote } = splitAddSources(op);
    const names: string[] = [];
    await mkdir(dir, { recursive: true });
    for (const [i, source] of remote.entries()) {
      if (source.kind === 'http') {
        const download = await this.download(source.url, op.checksum, signal);
        await link(download.file, path.join(dir, source.filename)).catch((err) => {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          throw new BuildError(
            'ADD_NAME_CLASH',
            `${redactUrl(source.url)}: another source of this ADD is also named ${source.filename}`,
          );
        });
        names.push(source.filename);
        continue;
      }
      const spec = gitSpec(source, op);
      const commit = await this.commit(spec, signal);
      const tree = await cloneGitCommit(spec, commit, await this.scratch(), signal);
      const name = `.kiln-git-${i}`;
      await rename(tree, path.join(dir, name));
      // The rest of the checkout (outside a subdir) is not needed any more.
      await rm(path.dirname(tree), { recursive: true, force: true });
      names.push(name);
    }
    return names;
  }

  private async scratch(): Promise<string> {
    const dir = path.join(this.scratchDir, 'add');
    await mkdir(dir, { recursive: true });
    return dir;
  }

  private download(url: string, checksum: string | undefined, signal?: AbortSignal) {
    const key = `${url}\n${checksum ?? ''}`;
    let download = this.downloads.get(key);
    if (download === undefined) {
      download = this.scratch().then((scratchDir) =>
        downloadFile(url, {
          scratchDir,
          ...(checksum === undefined ? {} : { checksum }),
          ...(signal ? { signal } : {}),
        }),
      );
      // A failed download may be retried by a later step; a good one is shared.
      download.catch(() => this.downloads.delete(key));
      this.downloads.set(key, download);
    }
    return download;
  }

  private commit(spec: GitSpec & { checksum?: string }, signal?: AbortSignal): Promise<string> {
    const key = `${spec.remote}#${spec.ref}\n${spec.checksum ?? ''}`;
    let commit = this.commits.get(key);
    if (commit === undefined) {
      commit = resolveGitCommit(spec, signal).then((resolved) => {
        if (spec.checksum !== undefined && !resolved.startsWith(spec.checksum)) {
          throw new BuildError(
            'ADD_CHECKSUM_MISMATCH',
            `checksum mismatch for ${redactUrl(spec.remote)}: expected commit ${spec.checksum}, ` +
              `got ${resolved}`,
          );
        }
        return resolved;
      });
      commit.catch(() => this.commits.delete(key));
      this.commits.set(key, commit);
    }
    return commit;
  }
}

function gitSpec(
  source: Extract<AddSource, { kind: 'git' }>,
  op: CopyOp,
): GitSpec & { checksum?: string } {
  return {
    remote: source.remote,
    ref: source.ref,
    subdir: source.subdir,
    keepGitDir: op.keepGitDir === true,
    ...(op.checksum === undefined ? {} : { checksum: op.checksum }),
  };
}
