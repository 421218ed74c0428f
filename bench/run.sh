#!/usr/bin/env bash
# `npm run bench`: the test suite's system packages and the anchors (unless all are skipped), then
# kiln and the harness built, then bench/main.ts. See docs/bench.md for what it measures.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

scripts/install-deps.sh
skip=",${KILN_BENCH_SKIP:-},"
if [[ $skip != *,buildkit,* || $skip != *,buildah,* ]]; then
  scripts/install-bench-deps.sh
fi
if [[ ! -d node_modules ]]; then
  npm ci
fi
npm run build
npx tsc -p bench/tsconfig.json
exec node dist/bench/main.js "$@"
