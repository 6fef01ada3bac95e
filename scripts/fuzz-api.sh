#!/usr/bin/env bash
# `npm run fuzz`: schemathesis against the real API, with every check. Installs what it needs (the
# Temporal CLI; schemathesis from PyPI, pinned in test/fuzz/requirements.txt, into a venv outside
# the repo), then test/fuzz/run-api.ts starts Temporal, a worker and the API on free loopback
# ports, runs schemathesis, prints a summary and stops everything. Fails on a 5xx, a failed check,
# or fewer than FUZZ_MIN_REQUESTS (1000) requests.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${HOME}/.cache/clickhouse-migrator/venv"
REQUIREMENTS=test/fuzz/requirements.txt

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else
    echo "fuzz: need root to run: $*" >&2; return 1; fi
}

bash scripts/ensure-tools.sh
stamp="$(sha256sum "${REQUIREMENTS}" | cut -d' ' -f1)"
if [ "$(cat "${VENV}/.requirements-stamp" 2>/dev/null)" != "${stamp}" ]; then
  echo "fuzz: installing schemathesis ($(grep '^schemathesis==' "${REQUIREMENTS}")) into ${VENV}"
  if ! python3 -m venv "${VENV}"; then
    # Debian keeps venv's ensurepip in a package of its own.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv </dev/null >/dev/null
    python3 -m venv "${VENV}"
  fi
  "${VENV}/bin/pip" install --quiet --disable-pip-version-check -r "${REQUIREMENTS}"
  echo "${stamp}" > "${VENV}/.requirements-stamp"
fi
SCHEMATHESIS="${VENV}/bin/schemathesis" exec node_modules/.bin/tsx test/fuzz/run-api.ts
