#!/usr/bin/env bash
# Runs every test of the project, fast checks first: formatting and lints, then unit tests
# (gateway, extension, browser module), then the gateway's integration tests (real
# redis-server, real WebSocket clients), the deploy test (nginx and HAProxy in front of two
# gateways) and the end-to-end tests on real MediaWikis in headless Chromium: both LTS
# versions, 1.39 and 1.43 (the one the host's Debian lacks runs in a Debian root made once by
# scripts/mw-root.sh and cached outside the clone).
# Installs what it needs first (apt and npm packages), so a fresh Debian machine with Rust,
# Node.js and root (or sudo) needs nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s (%s)\n' "$*" "$(date +%T)"; }
started=$SECONDS

step "installing dependencies"
bash scripts/install-deps.sh

step "format and lint: cargo fmt, clippy, php -l, promtool, ESLint, Stylelint, banana-checker"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
find extension -name '*.php' -not -path '*/node_modules/*' -print0 | xargs -0 -n1 -P2 php -l -d display_errors=1 >/dev/null
promtool check rules deploy/prometheus/*.rules.yml
promtool test rules deploy/prometheus/tests/*.yml
(cd extension/RealTimeNotify && npm run -s lint)

step "unit: contract and browser module (node --test)"
node --test extension/RealTimeNotify/tests/node/

step "unit: extension (Debian's phpunit)"
phpunit -c extension/RealTimeNotify/tests/phpunit/phpunit.xml

step "extension against a real MediaWiki 1.39 (services, token API, SQL, job queue; ~15 s)"
bash extension/RealTimeNotify/tests/phpunit/integration.sh

step "gateway: unit and integration tests"
cargo test --workspace --locked

step "gateway: the SSE feed with real Python clients (requests-sse, sseclient, jsonschema)"
RTN_GATEWAY_BIN="$PWD/target/debug/realtimenotify" "$(bash scripts/py-venv.sh)" gateway/tests/sse_clients.py

step "deploy: two gateways behind nginx and HAProxy"
bash deploy/test.sh

step "end to end on MediaWiki 1.39 and 1.43: real wiki, Redis, gateway, headless Chromium"
RTN_MW=all bash e2e/run.sh

step "all tests passed in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s"
