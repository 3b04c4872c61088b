#!/usr/bin/env bash
# End-to-end tests: a real MediaWiki (e2e/wiki.sh), real redis-server, the real gateway
# (target/release/realtimenotify) and headless Chromium (/usr/bin/chromium via playwright-core).
# Each test file starts its own processes on free ports and stops them at the end.
#
#   e2e/run.sh                          # every test in e2e/tests/, on the host's MediaWiki
#   e2e/run.sh tests/tabs.test.mjs      # some of them
#   RTN_MW=1.43 e2e/run.sh              # on MediaWiki 1.43
#   RTN_MW=all e2e/run.sh               # on each supported version in turn (1.39, then 1.43)
#
# RTN_MW: 1.39, 1.43, a list of them ("1.39 1.43") or all; default: the host's own package
# (Debian 12: 1.39, Debian 13: 1.43). A version the host does not have runs in a Debian root
# made and cached by scripts/mw-root.sh (the first time: a few minutes).
# Screenshots and the logs of every process and wiki: e2e/artifacts/mw-VERSION/.
# RTN_KEEP=1 keeps the temporary wikis and browser profiles.
set -euo pipefail
E2E=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$E2E")
MW_ROOT_SH="$REPO/scripts/mw-root.sh"

host_version=$(bash "$MW_ROOT_SH" host-version)
versions=${RTN_MW:-$host_version}
[[ $versions == all ]] && versions="1.39 1.43"
read -r -a versions <<<"${versions//,/ }"
for v in "${versions[@]}"; do
	[[ $v == 1.39 || $v == 1.43 ]] || { echo "e2e/run.sh: RTN_MW: unsupported version '$v' (1.39, 1.43 or all)" >&2; exit 2; }
done

missing=()
for cmd in node npm cargo php redis-server redis-cli "${RTN_CHROMIUM:-/usr/bin/chromium}"; do
	command -v "$cmd" >/dev/null || missing+=("$cmd")
done
for v in "${versions[@]}"; do
	if bash "$MW_ROOT_SH" needs-root "$v"; then
		command -v debootstrap >/dev/null || missing+=(debootstrap)
	else
		[[ -f ${MW_INSTALL_PATH:-/usr/share/mediawiki}/maintenance/install.php ]] || missing+=(mediawiki)
	fi
done
if (( ${#missing[@]} )); then
	echo "e2e/run.sh: missing: ${missing[*]} (run scripts/install-deps.sh)" >&2
	exit 1
fi

if [[ ! -d $E2E/node_modules/playwright-core ]]; then
	(cd "$E2E" && npm ci --no-audit --no-fund)
fi

(cd "$REPO" && cargo build --release --locked -p realtimenotify)

cd "$E2E"
(( $# )) || set -- tests/
timings=()
rc=0
for v in "${versions[@]}"; do
	root=""
	if bash "$MW_ROOT_SH" needs-root "$v"; then
		start=$SECONDS
		root=$(bash "$MW_ROOT_SH" ensure "$v")
		echo "e2e: MediaWiki $v runs in $root (ready after $((SECONDS - start)) s)"
	fi
	rm -rf "$E2E/artifacts/mw-$v"
	mkdir -p "$E2E/artifacts/mw-$v"
	echo "e2e: MediaWiki $v ($( [[ -n $root ]] && echo "Debian root, chroot" || echo "host package"))"
	start=$SECONDS
	# One file at a time: each drives a browser, a wiki and a gateway, and the popups are timed.
	if RTN_MW=$v RTN_MW_ROOT=$root node --test --test-concurrency=1 --test-timeout=300000 --test-reporter=spec "$@"; then
		timings+=("MediaWiki $v: passed in $((SECONDS - start)) s")
	else
		timings+=("MediaWiki $v: FAILED after $((SECONDS - start)) s")
		rc=1
	fi
done
printf 'e2e: %s\n' "${timings[@]}"
exit "$rc"
