#!/usr/bin/env bash
# kiln's test command (npm test): system packages, build, lint, then every test under dist/.
# Usage: scripts/test.sh [TEST_FILE.js ...]   (no arguments: all *.test.js of src/ and test/)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Test files named on the command line are relative to where the caller stands.
args=()
for arg in "$@"; do
  args+=("$(realpath -m -- "$arg")")
done
cd "$root"

scripts/install-deps.sh
if [[ ! -d node_modules ]]; then
  npm ci
fi
npm run build
npx biome check src test scripts bench conformance

if [[ ${#args[@]} -gt 0 ]]; then
  files=("${args[@]}")
else
  # Only tests whose TypeScript source still exists: dist/ keeps the output of deleted or
  # renamed tests, and those must not run.
  files=()
  while IFS= read -r js; do
    ts="${js#dist/}"
    ts="${ts%.js}.ts"
    if [[ -f "$ts" ]]; then
      files+=("$js")
    fi
  done < <(find dist/src dist/test -name '*.test.js' 2>/dev/null | LC_ALL=C sort)
fi

if [[ ${#files[@]} -eq 0 ]]; then
  echo "test.sh: no test files found under dist/src or dist/test" >&2
  exit 1
fi

# Each file runs in its own process, two at a time (the machines have 2 cores). The per-test
# timeout is generous because integration tests build and run images.
exec node --test \
  --test-concurrency="${KILN_TEST_CONCURRENCY:-2}" \
  --test-timeout="${KILN_TEST_TIMEOUT_MS:-300000}" \
  --test-reporter=spec \
  "${files[@]}"
