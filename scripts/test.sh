#!/usr/bin/env bash
# Runs every test of the project: the gateway's unit and integration tests
# (real redis-server, real WebSocket clients), the extension's PHP unit tests,
# and the end-to-end tests on real MediaWikis in headless Chromium: both LTS
# versions, 1.39 and 1.43 (the one the host's Debian lacks runs in a Debian
# root made once by scripts/mw-root.sh and cached outside the clone).
# Installs what it needs first (apt and npm packages), so a fresh Debian
# machine with Rust, Node.js and root (or sudo) needs nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing dependencies"
bash scripts/install-deps.sh

step "gateway: unit and integration tests"
cargo test --workspace --locked

step "extension: PHPUnit (Debian's phpunit)"
phpunit -c extension/RealTimeNotify/tests/phpunit/phpunit.xml

step "deploy: two gateways behind nginx and HAProxy"
bash deploy/test.sh

step "end to end on MediaWiki 1.39 and 1.43: real wiki, Redis, gateway, headless Chromium"
RTN_MW=all bash e2e/run.sh

step "all tests passed"
