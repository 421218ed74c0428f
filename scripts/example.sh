#!/usr/bin/env bash
# `npm run example`: installs what kiln needs, builds it, and runs scripts/example.mjs.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/install-deps.sh
if [[ ! -d node_modules ]]; then
  npm ci
fi
npm run build
exec node scripts/example.mjs
