#!/usr/bin/env bash
# Installs what the demo and the tests need, and nothing when it is all there already:
#   apt: MediaWiki (Debian 12: 1.39 with PHP 8.2; Debian 13: 1.43 with PHP 8.4) and PHP's sqlite,
#        redis, intl, mbstring and xml modules, PHPUnit, redis-server, Chromium (driven headless
#        by the end-to-end tests), nginx, HAProxy and openssl (deploy test), prometheus (for
#        promtool: the alert rules in deploy/prometheus are checked and unit-tested), debootstrap
#        (the other MediaWiki LTS runs from a Debian root it makes: scripts/mw-root.sh);
#   npm: e2e/node_modules (playwright-core, from e2e/package-lock.json) and
#        extension/RealTimeNotify/node_modules (ESLint, Stylelint, banana-checker, jsdom: the
#        linters and the browser module's unit tests, from its package-lock.json).
# Rust (cargo) and Node.js (node, npm) must be present already: this script does not install
# toolchains. apt needs root (or sudo). Works on Debian 12 (bookworm) and 13 (trixie).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

APT_PACKAGES=(mediawiki php-cli php-sqlite3 php-redis php-intl php-mbstring php-xml phpunit
	redis-server chromium nginx haproxy openssl prometheus debootstrap
	python3-venv rabbitmq-server php-amqplib)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
	installed "$pkg" || missing+=("$pkg")
done

if (( ${#missing[@]} )); then
	if [[ $(id -u) -eq 0 ]]; then
		sudo=()
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo=(sudo)
	else
		echo "install-deps: missing apt packages: ${missing[*]}" >&2
		echo "install-deps: run this script as root (or with sudo) to install them" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Toolchains this script does not install.
for cmd in cargo node npm; do
	if ! command -v "$cmd" >/dev/null; then
		echo "install-deps: '$cmd' is not installed: install Rust (cargo) and Node.js >= 20 (npm) first" >&2
		exit 1
	fi
done

if [[ ! -d e2e/node_modules/playwright-core ]]; then
	echo "install-deps: npm ci in e2e/"
	(cd e2e && npm ci --no-audit --no-fund)
fi

if [[ ! -d extension/RealTimeNotify/node_modules/eslint-config-wikimedia || \
	! -d extension/RealTimeNotify/node_modules/jsdom ]]; then
	echo "install-deps: npm ci in extension/RealTimeNotify/"
	(cd extension/RealTimeNotify && npm ci --no-audit --no-fund)
fi
