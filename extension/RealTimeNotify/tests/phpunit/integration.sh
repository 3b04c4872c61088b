#!/usr/bin/env bash
# The extension's PHPUnit suite against a real wiki (what the unit suite cannot reach): installs
# a throwaway MediaWiki 1.39 on SQLite with e2e/wiki.sh (this checkout's extension loaded, the
# test accounts Admin, Alice, Bob, Carol, Dave, Patty), adds the settings below, and runs
# tests/phpunit/integration/ in it: every service of ServiceWiring.php, the token API, the
# watcher and right-holder lookups on SQLite, read permissions, HttpTransport against PHP's
# built-in server, and the retry jobs on the database job queue.
#
#   extension/RealTimeNotify/tests/phpunit/integration.sh [phpunit args]
#
# RTN_KEEP=1 keeps the wiki (its path is printed).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../../.." && pwd)

# free_port
source "$REPO/scripts/lib/net.sh"

dir=$(mktemp -d "${TMPDIR:-/tmp}/rtn-integration-XXXXXX")
if [[ -z ${RTN_KEEP:-} ]]; then
	trap 'rm -rf "$dir"' EXIT
else
	echo "integration wiki in $dir"
fi
ingest_port=$(free_port)

# Loaded last by the wiki's LocalSettings.php (e2e/wiki.sh keeps DIR/extra.php).
cat >"$dir/extra.php" <<PHP
<?php
\$wgRealTimeNotifySecret = 'integration-secret-0123456789-abcdefghijklmnop';
# Events go over HTTP to the test's own server (HttpTransport, the retry jobs).
\$wgRealTimeNotifyTransport = 'http';
\$wgRealTimeNotifyIngestUrl = 'http://127.0.0.1:$ingest_port/ingest';
\$wgRealTimeNotifyIngestSecret = 'integration-ingest-secret';
\$wgRealTimeNotifyRetryDelay = 2;
\$wgRealTimeNotifyRetryMaxAge = 600;
\$wgWatchlistExpiry = true;
# A private wiki: only the main page is readable without an account.
\$wgGroupPermissions['*']['read'] = false;
\$wgWhitelistRead = [ 'Main Page' ];
# Readers who lost read (Dave is put in this group by the token test).
\$wgRevokePermissions['noread']['read'] = true;
# The Project namespace: for sysops only, the way Extension:Lockdown restricts one.
\$wgHooks['getUserPermissionsErrors'][] = static function ( \$title, \$user, \$action, &\$result ) {
	if ( \$action === 'read' && \$title->getNamespace() === NS_PROJECT && !in_array( 'sysop',
		MediaWiki\\MediaWikiServices::getInstance()->getUserGroupManager()->getUserEffectiveGroups( \$user ), true )
	) {
		\$result = [ 'badaccess-group0' ];
		return false;
	}
	return true;
};
PHP

bash "$REPO/e2e/wiki.sh" create "$dir" "$(free_port)" "$(free_port)" "ws://127.0.0.1:1/v1/ws" >/dev/null
MW_CONFIG_FILE="$dir/LocalSettings.php" RTN_INGEST_PORT=$ingest_port RTN_WIKI_DIR=$dir \
	php "$HERE/integration/phpunit.php" -c "$HERE/integration.xml" "$@"
