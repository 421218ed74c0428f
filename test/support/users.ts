import { readFile } from 'node:fs/promises';
import { type CommandOptions, type CommandResult, runCommand } from './command.js';
import { withFileLock } from './file-lock.js';

// The unprivileged user that rootless tests run kiln as. Creating it needs root, which the
// development machines and CI have; everything here is idempotent and safe to run in parallel.

export const TEST_USER = 'kilntest';
const ID_RANGE = 65536;
const FIRST_SUBORDINATE_ID = 100000;

export interface IdRange {
  start: number;
  count: number;
}

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  subuid: IdRange;
  subgid: IdRange;
}

/**
 * Makes sure `name` exists with a home directory and a subordinate uid and gid range of 65536
 * ids each (enough for newuidmap to map a whole image's users), and describes it.
 */
export async function ensureTestUser(name: string = TEST_USER): Promise<TestUser> {
  const existing = await describeUser(name);
  if (existing) return existing;
  if (process.getuid?.() !== 0) {
    throw new Error(`test user ${name} is missing or has no subuid/subgid range; needs root`);
  }

  return withFileLock(`/tmp/kiln-user-${name}.lock`, async () => {
    const again = await describeUser(name);
    if (again) return again;

    const passwd = await getent('passwd', name);
    if (!passwd) {
      await runCommand('useradd', ['--create-home', '--user-group', '--shell', '/bin/sh', name]);
    }
    await addRange(name, '/etc/subuid', '--add-subuids');
    await addRange(name, '/etc/subgid', '--add-subgids');

    const user = await describeUser(name);
    if (!user) throw new Error(`could not set up test user ${name}`);
    return user;
  });
}

export interface RunAsOptions extends Omit<CommandOptions, 'uid' | 'gid'> {}

/**
 * Runs a program as another user (root only): its uid and gid, no supplementary groups, and
 * an environment of its own (HOME, USER, LOGNAME, a plain PATH) merged with opts.env.
 * The working directory defaults to the user's home.
 */
export async function runAs(
  user: string | TestUser,
  cmd: string,
  args: readonly string[],
  opts: RunAsOptions = {},
): Promise<CommandResult> {
  const who = typeof user === 'string' ? await lookupUser(user) : user;
  const env: NodeJS.ProcessEnv = {
    HOME: who.home,
    USER: who.name,
    LOGNAME: who.name,
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
    ...opts.env,
  };
  return runCommand(cmd, args, { cwd: who.home, ...opts, env, uid: who.uid, gid: who.gid });
}

async function lookupUser(
  name: string,
): Promise<{ name: string; uid: number; gid: number; home: string }> {
  const passwd = await getent('passwd', name);
  if (!passwd) throw new Error(`no such user: ${name}`);
  return passwd;
}

async function describeUser(name: string): Promise<TestUser | undefined> {
  const passwd = await getent('passwd', name);
  if (!passwd) return undefined;
  const subuid = (await readRanges('/etc/subuid')).get(name);
  const subgid = (await readRanges('/etc/subgid')).get(name);
  if (!subuid || !subgid) return undefined;
  return { ...passwd, subuid, subgid };
}

async function getent(
  db: 'passwd',
  name: string,
): Promise<{ name: string; uid: number; gid: number; home: string } | undefined> {
  const { code, stdout } = await runCommand('getent', [db, name], { check: false });
  if (code !== 0) return undefined;
  const fields = stdout.trim().split(':');
  return { name, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] ?? '/' };
}

interface RangeLine extends IdRange {
  owner: string;
}

async function readRangeLines(file: string): Promise<RangeLine[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines: RangeLine[] = [];
  for (const line of text.split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    if (!owner || start === undefined || count === undefined) continue;
    lines.push({ owner, start: Number(start), count: Number(count) });
  }
  return lines;
}

/** The first range of each user in a subuid/subgid file (what newuidmap allows first). */
async function readRanges(file: string): Promise<Map<string, IdRange>> {
  const ranges = new Map<string, IdRange>();
  for (const { owner, start, count } of await readRangeLines(file)) {
    if (!ranges.has(owner)) ranges.set(owner, { start, count });
  }
  return ranges;
}

/** Gives name a range past every range already handed out, unless it has one. */
async function addRange(name: string, file: string, flag: string): Promise<void> {
  const lines = await readRangeLines(file);
  if (lines.some((l) => l.owner === name)) return;

  let start = FIRST_SUBORDINATE_ID;
  for (const l of lines) start = Math.max(start, l.start + l.count);
  await runCommand('usermod', [flag, `${start}-${start + ID_RANGE - 1}`, name]);
}
