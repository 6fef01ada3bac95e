#!/usr/bin/env bash
# `npm run bench`: install what is missing, build the worker and the API as they are deployed
# (compiled, with a pre-built workflow bundle), then run the benchmark (bench/bench.ts; the
# BENCH_* variables it reads are listed in the README's Benchmark section).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-tools.sh
node_modules/.bin/tsc -p tsconfig.build.json
node_modules/.bin/tsx src/bundle-workflows.ts dist/workflow-bundle.js >/dev/null
exec node_modules/.bin/tsx bench/bench.ts
