#!/usr/bin/env bash
# `npm start`: install what is missing, then run the whole local stack (src/dev/start.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-tools.sh
exec node_modules/.bin/tsx src/dev/start.ts
