#!/usr/bin/env bash
# Builds kiln's own image with kiln. Usage:
#   scripts/build-kiln-image.sh NODE_IMAGE [kiln build options...]
# e.g. scripts/build-kiln-image.sh 127.0.0.1:5000/node:20 -t 127.0.0.1:5000/kiln:dev --push
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
node_image=${1:?usage: build-kiln-image.sh NODE_IMAGE [kiln build options...]}
shift
cd "$root"
[[ -d node_modules ]] || npm ci
npm run build
scripts/stage-image-tools.sh "$root/.tmp/image-tools"
exec node dist/src/cli/kiln.mjs build -f kiln.Dockerfile --build-arg "NODE_IMAGE=$node_image" "$@" .
