#!/usr/bin/env bash
# Installs the Debian packages `npm run bench` needs beyond the test suite's (scripts/install-deps.sh):
# the anchors it times kiln against. Does nothing when they are present.
#   docker.io  dockerd 20.10 with BuildKit built in, and the docker client that drives it
#   buildah    buildah 1.28
set -euo pipefail
PACKAGES=(docker.io buildah)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "installed" ]]; then
    missing+=("$pkg")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-bench-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-bench-deps: missing Debian packages: ${missing[*]} (run as root, or skip them:" >&2
  echo "  KILN_BENCH_SKIP=buildkit,buildah npm run bench)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-bench-deps: installing ${missing[*]}"
apt-get update -qq >/dev/null
# dockerd is started by the bench itself on a private socket; policy-rc.d may refuse the service.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-bench-deps: installed ${missing[*]}"
