import { BuildError } from '../errors.js';

/** The ids a USER value resolves to inside the image, as Docker resolves them. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function parsePasswd(text: string): PasswdEntry[] {
  return text
    .split('\n')
    .map((line) => line.split(':'))
    .filter((f) => f.length >= 6 && f[0] !== '' && !f[0]!.startsWith('#'))
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '/' }));
}

function parseGroup(text: string): GroupEntry[] {
  return text
    .split('\n')
    .map((line) => line.split(':'))
    .filter((f) => f.length >= 3 && f[0] !== '' && !f[0]!.startsWith('#'))
    .map((f) => ({
      name: f[0]!,
      gid: Number(f[2]),
      members: (f[3] ?? '').split(',').filter((m) => m !== ''),
    }));
}

const isNumeric = (s: string): boolean => /^[0-9]+$/.test(s);

/**
 * Resolves `user[:group]` (empty: no USER) against the image's /etc/passwd and /etc/group texts
 * (either may be missing). A numeric user absent from passwd is allowed, with gid = uid's group 0 as Docker does;
 * a named user or group that does not exist is an error.
 */
export function resolveUser(spec: string, passwd?: string, group?: string): ResolvedUser {
  const users = passwd ? parsePasswd(passwd) : [];
  const groups = group ? parseGroup(group) : [];
  const colon = spec.indexOf(':');
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? undefined : spec.slice(colon + 1);
  // No USER at all is uid 0, as runc resolves an empty user: the uid 0 entry when passwd has
  // one, else no lookup. A named user, root included, must be in passwd.
  const userName = userPart === '' ? (users.find((u) => u.uid === 0)?.name ?? '0') : userPart;

  const entry = isNumeric(userName)
    ? users.find((u) => u.uid === Number(userName))
    : users.find((u) => u.name === userName);
  if (!entry && !isNumeric(userName)) {
    throw new BuildError(
      'USER_UNKNOWN',
      `unable to find user ${userName}: no matching entries in passwd file`,
    );
  }
  const uid = entry ? entry.uid : Number(userName);

  let gid = entry ? entry.gid : 0;
  if (groupPart !== undefined && groupPart !== '') {
    if (isNumeric(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) {
        throw new BuildError(
          'GROUP_UNKNOWN',
          `unable to find group ${groupPart}: no matching entries in group file`,
        );
      }
      gid = g.gid;
    }
  }

  // Supplementary groups come from /etc/group membership, only when no group was given.
  const additionalGids =
    groupPart === undefined && entry
      ? groups.filter((g) => g.members.includes(entry.name) && g.gid !== gid).map((g) => g.gid)
      : [];
  return { uid, gid, additionalGids, home: entry?.home ?? '/' };
}
