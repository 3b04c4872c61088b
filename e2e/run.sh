#!/usr/bin/env bash
# End-to-end tests: a real MediaWiki 1.39 (e2e/wiki.sh), real redis-server, the real gateway
# (target/release/realtimenotify) and headless Chromium (/usr/bin/chromium via playwright-core).
# Each test file starts its own processes on free ports and stops them at the end.
#
#   e2e/run.sh                       # every test in e2e/tests/
#   e2e/run.sh tests/tabs.test.mjs   # some of them
#
# Logs of every process: e2e/artifacts/logs/; the popup screenshot: e2e/artifacts/notice.png.
# RTN_KEEP=1 keeps the temporary wikis and browser profiles.
set -euo pipefail
E2E=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$E2E")

missing=()
for cmd in node npm cargo php redis-server redis-cli "${RTN_CHROMIUM:-/usr/bin/chromium}"; do
	command -v "$cmd" >/dev/null || missing+=("$cmd")
done
[[ -f ${MW_INSTALL_PATH:-/usr/share/mediawiki}/maintenance/install.php ]] || missing+=(mediawiki)
if (( ${#missing[@]} )); then
	echo "e2e/run.sh: missing: ${missing[*]} (run scripts/install-deps.sh)" >&2
	exit 1
fi

if [[ ! -d $E2E/node_modules/playwright-core ]]; then
	(cd "$E2E" && npm ci --no-audit --no-fund)
fi

(cd "$REPO" && cargo build --release --locked -p realtimenotify)

mkdir -p "$E2E/artifacts"
rm -rf "$E2E/artifacts/logs"
cd "$E2E"
(( $# )) || set -- tests/
# One file at a time: each drives a browser, a wiki and a gateway, and the popups are timed.
exec node --test --test-concurrency=1 --test-timeout=300000 --test-reporter=spec "$@"
