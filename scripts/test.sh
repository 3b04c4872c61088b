#!/usr/bin/env bash
# Runs every test of the project: the gateway's unit and integration tests
# (real redis-server, real WebSocket clients), the extension's PHP unit tests,
# and the end-to-end test on a real MediaWiki in headless Chromium.
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

step "end to end: real MediaWiki, Redis, gateway, headless Chromium"
bash e2e/run.sh

step "all tests passed"
