#!/usr/bin/env bash
# `npm run bench`: install what is missing, then run the benchmark (bench/bench.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-tools.sh
exec node_modules/.bin/tsx bench/bench.ts
