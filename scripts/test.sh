#!/usr/bin/env bash
# `npm test`: install what is missing, then lint, typecheck, and run every test against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-tools.sh
echo "== lint" && node_modules/.bin/eslint .
echo "== typecheck" && node_modules/.bin/tsc -p tsconfig.json --noEmit
echo "== jest" && node_modules/.bin/jest "$@"
