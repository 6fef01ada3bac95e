#!/usr/bin/env bash
# Installs what `npm start`, `npm test` and `npm run bench` need and is missing: npm packages, the
# Temporal CLI (built from the Go module proxy), ClickHouse and ZooKeeper (Debian packages). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPORAL_VERSION=v1.5.1
TOOLS_BIN="${HOME}/.cache/clickhouse-migrator/bin"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else
    echo "ensure-tools: need root to run: $*" >&2; return 1; fi
}

if [ ! -f node_modules/.install-stamp ] || [ package-lock.json -nt node_modules/.install-stamp ]; then
  echo "ensure-tools: installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.install-stamp
fi

if [ -z "${TEMPORAL_CLI_PATH:-}" ] && [ ! -x "${TOOLS_BIN}/temporal" ] && ! command -v temporal >/dev/null; then
  echo "ensure-tools: building the Temporal CLI ${TEMPORAL_VERSION} with go install (about 3 minutes, once)"
  export PATH="${PATH}:/usr/local/go/bin"
  command -v go >/dev/null || { echo "ensure-tools: Go is needed to build the Temporal CLI" >&2; exit 1; }
  mkdir -p "${TOOLS_BIN}"
  GOBIN="${TOOLS_BIN}" go install "github.com/temporalio/cli/cmd/temporal@${TEMPORAL_VERSION}"
fi

apt_packages=()
if [ -z "${CLICKHOUSE_SERVER_PATH:-}" ] && ! command -v clickhouse-server >/dev/null && [ ! -x /usr/sbin/clickhouse-server ] \
  && [ ! -x /usr/bin/clickhouse-server ] && ! command -v clickhouse >/dev/null; then
  apt_packages+=(clickhouse-server clickhouse-client)
fi
# Replicated tables (tests, `CLUSTER=1 npm start`) need ZooKeeper, which runs on Java.
[ -n "${ZOOKEEPER_CLASSPATH:-}" ] || [ -f /usr/share/java/zookeeper.jar ] || apt_packages+=(zookeeper)
[ -n "${ZOOKEEPER_CLASSPATH:-}" ] || command -v java >/dev/null || apt_packages+=(default-jre-headless)
command -v docker-compose >/dev/null || apt_packages+=(docker-compose)
# The Web UI tests drive Debian's chromium headless (playwright-core, never a downloaded browser).
[ -n "${CHROMIUM_PATH:-}" ] || command -v chromium >/dev/null || apt_packages+=(chromium)
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "ensure-tools: installing ${apt_packages[*]} with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}" </dev/null >/dev/null
fi
