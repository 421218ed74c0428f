#!/usr/bin/env bash
# Copies the host programs kiln's sandbox calls (util-linux, coreutils, iproute2, uidmap, pigz,
# zstd, a POSIX sh) with the shared libraries they link into DIR, at the same paths, so kiln's own
# image can be assembled without a distribution base image (there is no Docker Hub here).
# Usage: scripts/stage-image-tools.sh DIR
set -euo pipefail
dest=${1:?usage: stage-image-tools.sh DIR}
rm -rf "$dest"
mkdir -p "$dest"

programs=(
  /bin/sh /usr/bin/unshare /usr/bin/mount /usr/bin/umount /usr/bin/setpriv /usr/bin/env
  /usr/bin/hostname /usr/bin/cat /usr/bin/chmod /usr/bin/chown /usr/bin/dirname /usr/bin/ln
  /usr/bin/mkdir /usr/bin/mkfifo /usr/bin/mknod /usr/sbin/ip /usr/bin/newuidmap
  /usr/bin/newgidmap /usr/bin/pigz /usr/bin/zstd
)

# Every file lands at the path it is asked for, dereferenced: the base image may have real /bin
# and /lib directories where the host has merged-usr symlinks.
copy_to() {
  local src=$1
  mkdir -p "$dest$(dirname "$src")"
  # Modes, owners and xattrs are kept: newuidmap/newgidmap are setuid root or carry capabilities.
  cp -L --preserve=mode,ownership,xattr "$src" "$dest$src"
}

for prog in "${programs[@]}"; do
  [[ -e "$prog" ]] || { echo "stage-image-tools: $prog is missing" >&2; exit 1; }
  copy_to "$prog"
  # The loader and every library the program links, at the paths ldd reports.
  while read -r lib; do
    [[ -n "$lib" && -e "$lib" && ! -e "$dest$lib" ]] || continue
    copy_to "$lib"
  done < <(ldd "$prog" 2>/dev/null | grep -oE '/[^ ]+' | sort -u)
done

# Login data for the rootless path: an unprivileged user `kiln` with a subordinate id range.
mkdir -p "$dest/etc"
printf 'kiln:100000:65536\n' >"$dest/etc/subuid"
printf 'kiln:100000:65536\n' >"$dest/etc/subgid"
