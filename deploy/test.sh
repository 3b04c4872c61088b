#!/usr/bin/env bash
# The deployment examples, run for real on 127.0.0.1: two gateways on one Redis stream behind
# nginx (deploy/nginx/realtimenotify.conf) and HAProxy (deploy/haproxy/realtimenotify.cfg), with
# deploy/realtimenotify.example.toml as it is. The checks are node tests in
# deploy/test/deploy.test.mjs (what they prove: deploy/README.md, "What the test proves");
# this script checks the tools, builds the gateway and runs them.
#
#   bash deploy/test.sh          # builds target/release/realtimenotify first (cargo, --locked)
#   RTN_GATEWAY_BIN=/path/to/realtimenotify bash deploy/test.sh   # no build
#   RTN_KEEP=1 bash deploy/test.sh                                # keep the temporary directory
#
# Needs: redis-server, nginx, haproxy, openssl, node >= 20 (scripts/install-deps.sh installs
# them). Exits non-zero on any failure.
set -euo pipefail
DEPLOY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$DEPLOY")

# nginx and haproxy live in /usr/sbin, which is not on a normal user's PATH on Debian.
PATH=$PATH:/usr/sbin:/sbin
missing=()
for cmd in node redis-server nginx haproxy openssl; do
	command -v "$cmd" >/dev/null || missing+=("$cmd")
done
if (( ${#missing[@]} )); then
	echo "deploy/test.sh: missing: ${missing[*]} (run scripts/install-deps.sh)" >&2
	exit 1
fi
if (( $(node -p 'Number(process.versions.node.split(".")[0])') < 20 )); then
	echo "deploy/test.sh: this node ($(node --version)) is too old; Node.js >= 20 is needed" >&2
	exit 1
fi

if [[ -n ${RTN_GATEWAY_BIN:-} ]]; then
	RTN_GATEWAY_BIN=$(realpath "$RTN_GATEWAY_BIN")
else
	(cd "$REPO" && cargo build --release --locked -q -p realtimenotify)
	RTN_GATEWAY_BIN=$REPO/target/release/realtimenotify
fi
export RTN_GATEWAY_BIN

# Bounded in time whatever hangs (the build above is not counted).
exec timeout --kill-after=10 300 node --test --test-reporter=spec "$DEPLOY/test/deploy.test.mjs"
