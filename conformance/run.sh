#!/usr/bin/env bash
# `npm run conformance`: dockerd 20.10 (docker.io) installed if missing, kiln built, then the
# differential suite (conformance/run.mjs) over every case, or the ones named as arguments.
# See docs/conformance.md.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [[ $(id -u) -ne 0 ]]; then
  echo "conformance: needs root (it starts dockerd and unpacks images with their owners)" >&2
  exit 1
fi
scripts/install-deps.sh
scripts/install-bench-deps.sh
if [[ ! -d node_modules ]]; then
  npm ci
fi
npm run build
exec node conformance/run.mjs "$@"
