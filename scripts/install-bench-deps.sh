#!/usr/bin/env bash
# Installs the Debian packages `npm run bench` needs beyond the test suite's (scripts/install-deps.sh):
# the anchors it times kiln against. Does nothing when they are present.
#   docker.io  dockerd 20.10 with BuildKit built in, and the docker client that drives it
#   buildah    buildah 1.28
set -euo pipefail
PACKAGES=(docker.io buildah)

# shellcheck source=lib/apt-install.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt-install.sh"
# dockerd is started by the bench itself on a private socket; policy-rc.d may refuse the service.
apt_install_missing install-bench-deps \
  "run as root, or skip the anchors: KILN_BENCH_SKIP=buildkit,buildah npm run bench" \
  "${PACKAGES[@]}"
