/**
 * The POSIX sh script a RUN step's namespace helper runs: it mounts the step's root (overlay,
 * /proc, /dev, /sys, the generated /etc files) and then drops into the command. Every tool is named
 * by its absolute host path, since PATH in this process is kiln's, not the image's.
 */

export interface StepScriptInput {
  /** Directory the overlay paths are relative to (keeps the mount options short). */
  baseDir: string;
  /** Overlay lower dirs, top first, relative to baseDir. */
  lowerDirs: string[];
  upperDir: string;
  workDir: string;
  userxattr: boolean;
  merged: string;
  /** Which of the standard mountpoints can be mounted (present, of the right type, no symlink). */
  mount: { proc: boolean; dev: boolean; sys: boolean; hosts: boolean; resolvConf: boolean };
  hostsFile: string;
  resolvConfFile: string;
  hostname: string;
  /** A fresh network namespace: bring loopback up, mount a sysfs of its own. */
  newNetwork: boolean;
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: number[];
  argv: string[];
  /** A heredoc script to show read-only at /dev/pipes/<name> (a file kiln wrote on the host). */
  script?: { name: string; hostPath: string; size: number };
  /** sh lines for the RUN --mount mounts, run once the root is complete. */
  mountLines?: string[];
  /** Extra `env -i` words left for sh to expand (secret variables, never in the script text). */
  envWords?: string[];
}

/** Quotes one word for sh: single quotes, with embedded ones spliced in. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Printed on the setup channel once everything is mounted. */
export const SETUP_DONE = 'kiln-sandbox-ready';

const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];

function devLines(m: string): string[] {
  const dev = `${m}/dev`;
  const lines = [`/usr/bin/mount -t tmpfs -o nosuid,mode=0755,size=65536k tmpfs ${dev}`];
  // Device nodes on a tmpfs mounted in a user namespace do not open (the kernel forces nodev
  // there), so the host's nodes are bind-mounted instead, as rootless runtimes do.
  for (const d of DEVICES) {
    lines.push(
      `if [ -e /dev/${d} ]; then : > ${dev}/${d}; /usr/bin/mount --bind /dev/${d} ${dev}/${d}; fi`,
    );
  }
  lines.push(
    `/usr/bin/mkdir -m 0755 ${dev}/pts ${dev}/shm`,
    `/usr/bin/mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,nosuid,noexec devpts ${dev}/pts`,
    `/usr/bin/ln -s pts/ptmx ${dev}/ptmx`,
    `/usr/bin/mount -t tmpfs -o nosuid,nodev,noexec,mode=1777,size=65536k shm ${dev}/shm`,
    `/usr/bin/ln -s /proc/self/fd ${dev}/fd`,
    `/usr/bin/ln -s /proc/self/fd/0 ${dev}/stdin`,
    `/usr/bin/ln -s /proc/self/fd/1 ${dev}/stdout`,
    `/usr/bin/ln -s /proc/self/fd/2 ${dev}/stderr`,
  );
  return lines;
}

/**
 * A heredoc script gets a tmpfs of its own under the step's /dev tmpfs, made read-only once
 * the file is in: the command can run it but not change it, and nothing of it is in the layer.
 */
function scriptLines(m: string, script: NonNullable<StepScriptInput['script']>): string[] {
  const dir = `${m}/dev/pipes`;
  const file = `${dir}/${shellQuote(script.name)}`;
  const size = script.size + 65536;
  return [
    `/usr/bin/mkdir -p -m 0755 ${dir}`,
    `/usr/bin/mount -t tmpfs -o nosuid,nodev,mode=0755,size=${size} tmpfs ${dir}`,
    `/usr/bin/cp ${shellQuote(script.hostPath)} ${file}`,
    `/usr/bin/chmod 0755 ${file}`,
    `/usr/bin/mount -o remount,ro,nosuid,nodev ${dir}`,
  ];
}

/**
 * The generated /etc files are bound read-only, nosuid, nodev and noexec, as BuildKit binds
 * them: a step cannot write them (its writes would be lost with the mount) and cannot remove or
 * rename them (EBUSY), so neither their content nor a whiteout for them can reach the layer.
 */
function readOnlyBind(file: string, target: string): string[] {
  return [
    `/usr/bin/mount --bind ${shellQuote(file)} ${target}`,
    `/usr/bin/mount -o remount,bind,ro,nosuid,nodev,noexec ${target}`,
  ];
}

/** Keeps only well-formed K=V entries, last one of a name winning. */
export function cleanEnv(env: string[]): string[] {
  const byName = new Map<string, string>();
  for (const kv of env) {
    const eq = kv.indexOf('=');
    if (eq <= 0 || kv.startsWith('-')) continue;
    byName.set(kv.slice(0, eq), kv);
  }
  return [...byName.values()];
}

export function buildStepScript(s: StepScriptInput): string {
  const q = shellQuote;
  const m = q(s.merged);
  const opts = [
    `lowerdir=${s.lowerDirs.join(':')}`,
    `upperdir=${s.upperDir}`,
    `workdir=${s.workDir}`,
    ...(s.userxattr ? ['userxattr'] : []),
  ].join(',');

  // Setup output goes to fd 3 so a failed mount is told apart from the command's own stderr.
  const lines = ['set -e', 'exec 4>&1 5>&2 1>&3 2>&3', `cd ${q(s.baseDir)}`];
  lines.push(`/usr/bin/mount -t overlay overlay -o ${q(opts)} ${m}`);
  if (s.mount.proc) lines.push(`/usr/bin/mount -t proc -o nosuid,nodev,noexec proc ${m}/proc`);
  if (s.mount.dev) lines.push(...devLines(m));
  if (s.script !== undefined) lines.push(...scriptLines(m, s.script));
  if (s.mount.sys) {
    // sysfs can only be mounted by the owner of the network namespace; with the host's network,
    // a read-only recursive bind of the host's /sys is what rootless runtimes use.
    const sysfs = `/usr/bin/mount -t sysfs -o ro,nosuid,nodev,noexec sysfs ${m}/sys`;
    const bind = `/usr/bin/mount --rbind -o ro /sys ${m}/sys`;
    lines.push(s.newNetwork ? `${sysfs} || ${bind}` : `${bind} || ${sysfs}`);
  }
  if (s.mount.hosts) lines.push(...readOnlyBind(s.hostsFile, `${m}/etc/hosts`));
  if (s.mount.resolvConf) lines.push(...readOnlyBind(s.resolvConfFile, `${m}/etc/resolv.conf`));
  lines.push(...(s.mountLines ?? []));
  // sethostname(2) through the hostname tool: the /proc/sys file belongs to the initial user
  // namespace's root, which a rootless sandbox cannot write even for its own uts namespace.
  lines.push(`if [ -x /usr/bin/hostname ]; then /usr/bin/hostname ${q(s.hostname)}; fi`);
  if (s.newNetwork) {
    lines.push('if [ -x /usr/sbin/ip ]; then /usr/sbin/ip link set lo up; fi');
  }

  // setpriv sets the gid and the supplementary groups while still root; unshare then chroots,
  // changes to the working directory and sets the uid last (which drops every capability).
  // unshare's own --setgid would clear the supplementary groups again.
  const groups =
    s.additionalGids.length > 0 ? `--groups=${s.additionalGids.join(',')}` : '--clear-groups';
  const exec = [
    '/usr/bin/env',
    '-i',
    '--',
    ...cleanEnv(s.env),
    '/usr/bin/setpriv',
    `--regid=${s.gid}`,
    groups,
    '--',
    '/usr/bin/unshare',
    `--root=${s.merged}`,
    `--wd=${s.cwd}`,
    `--setuid=${s.uid}`,
    '--',
    ...s.argv,
  ];
  lines.push(`printf '%s\\n' ${SETUP_DONE}`, 'exec 1>&4 2>&5 3>&- 4>&- 5>&-');
  const words = exec.map(q);
  words.splice(3 + cleanEnv(s.env).length, 0, ...(s.envWords ?? []));
  lines.push(`exec ${words.join(' ')}`);
  return `${lines.join('\n')}\n`;
}
