#!/usr/bin/env bash
# Throwaway MediaWiki (Debian's 1.39 in /usr/share/mediawiki) with RealTimeNotify loaded.
#
#   e2e/wiki.sh create DIR PORT REDIS_PORT GATEWAY_WS_URL
#       Install a fresh SQLite wiki into DIR (any wiki already there is wiped; DIR/extra.php
#       is kept), load the extension from this checkout, create users:
#         Admin / RealTime-Admin-1   (sysop, bureaucrat)
#         Alice / RealTime-Alice-1   (realtimenotify-enable = 1)
#         Bob   / RealTime-Bob-1     (preference off)
#         Carol / RealTime-Carol-1   (enabled, realtimenotify-mode = watchlist)
#         Dave  / RealTime-Dave-1    (enabled, realtimenotify-mode = watchlist)
#         Patty / RealTime-Patty-1   (group patroller: right patrol; enabled, mode = alerts)
#       Wiki id (event "wiki", token "aud"): testwiki.  Server: http://127.0.0.1:PORT
#       Logs: DIR/realtimenotify.log (extension), DIR/exception.log, DIR/error.log.
#       DIR/extra.php, if it exists, is loaded last by LocalSettings.php (per-test settings).
#   e2e/wiki.sh serve DIR PORT
#       Serve it with PHP's built-in server in the foreground (the caller backgrounds it).
#   e2e/wiki.sh jobs DIR
#       Its job queue, one line per job type (maintenance/showJobs.php --group).
set -euo pipefail

MW=${MW_INSTALL_PATH:-/usr/share/mediawiki}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXTENSION_JSON="$REPO/extension/RealTimeNotify/extension.json"

WIKI_ID=testwiki
ADMIN_PASS='RealTime-Admin-1'
ALICE_PASS='RealTime-Alice-1'
BOB_PASS='RealTime-Bob-1'
CAROL_PASS='RealTime-Carol-1'
DAVE_PASS='RealTime-Dave-1'
PATTY_PASS='RealTime-Patty-1'
MARKER=.realtimenotify-wiki

die() { echo "wiki.sh: $*" >&2; exit 1; }

usage() {
	sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

is_port() { [[ $1 =~ ^[0-9]+$ ]] && (( $1 > 0 && $1 < 65536 )); }

# PHP single-quoted string literal.
php_str() { printf "'%s'" "$(printf '%s' "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g")"; }

maint() {
	local dir=$1 script=$2
	shift 2
	MW_CONFIG_FILE="$dir/LocalSettings.php" php "$MW/maintenance/$script" "$@"
}

create() {
	[[ $# -eq 4 ]] || usage
	local dir=$1 port=$2 redis_port=$3 gateway=$4
	is_port "$port" || die "bad PORT: $port"
	is_port "$redis_port" || die "bad REDIS_PORT: $redis_port"
	[[ -f $EXTENSION_JSON ]] || die "missing $EXTENSION_JSON"

	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [[ -e $dir/LocalSettings.php || -e $dir/data ]]; then
		[[ -e $dir/$MARKER ]] || die "$dir holds something that wiki.sh did not create; refusing to wipe it"
		rm -rf "$dir/data" "$dir/images" "$dir/cache" "$dir/tmp" "$dir/LocalSettings.php" \
			"$dir/realtimenotify.log" "$dir/exception.log" "$dir/error.log"
	fi
	touch "$dir/$MARKER"
	mkdir -p "$dir/data" "$dir/images" "$dir/cache" "$dir/tmp"

	php "$MW/maintenance/install.php" \
		--dbtype sqlite --dbpath "$dir/data" --dbname "$WIKI_ID" \
		--server "http://127.0.0.1:$port" --scriptpath "" \
		--lang en --pass "$ADMIN_PASS" --confpath "$dir" \
		"RealTimeNotify Test Wiki" Admin >"$dir/install.log" 2>&1 \
		|| { cat "$dir/install.log" >&2; die "install.php failed"; }

	cat >>"$dir/LocalSettings.php" <<EOF

# ---- added by e2e/wiki.sh ----
wfLoadExtension( 'RealTimeNotify', $(php_str "$EXTENSION_JSON") );
\$wgRealTimeNotifyRedisServer = $(php_str "127.0.0.1:$redis_port");
\$wgRealTimeNotifyGatewayUrl = $(php_str "$gateway");
\$wgDebugLogGroups['realtimenotify'] = $(php_str "$dir/realtimenotify.log");
\$wgDebugLogGroups['exception'] = $(php_str "$dir/exception.log");
\$wgDebugLogGroups['error'] = $(php_str "$dir/error.log");

# A quick local test wiki: no caches to go stale, no mail, no throttles or rate limits.
\$wgMainCacheType = CACHE_NONE;
\$wgSessionCacheType = CACHE_DB;
\$wgCacheDirectory = $(php_str "$dir/cache");
\$wgTmpDirectory = $(php_str "$dir/tmp");
\$wgEnableEmail = false;
\$wgEnableUserEmail = false;
\$wgPasswordAttemptThrottle = false;
\$wgGroupPermissions['user']['noratelimit'] = true;
\$wgShowExceptionDetails = true;
\$wgEnableUploads = true;
\$wgUploadDirectory = $(php_str "$dir/images");
# The docroot is core's directory, not DIR: serve uploaded files through img_auth.php.
\$wgUploadPath = '/img_auth.php';
\$wgUseInstantCommons = false;
\$wgUseImageMagick = false;
# Patrollers without being sysops (Patty): they get the patrol alerts.
\$wgGroupPermissions['patroller']['patrol'] = true;

if ( is_file( __DIR__ . '/extra.php' ) ) {
	require_once __DIR__ . '/extra.php';
}
EOF

	maint "$dir" createAndPromote.php Alice "$ALICE_PASS" >/dev/null
	maint "$dir" createAndPromote.php Bob "$BOB_PASS" >/dev/null
	maint "$dir" createAndPromote.php Carol "$CAROL_PASS" >/dev/null
	maint "$dir" createAndPromote.php Dave "$DAVE_PASS" >/dev/null
	maint "$dir" createAndPromote.php --custom-groups patroller Patty "$PATTY_PASS" >/dev/null
	# Alice, Carol, Dave and Patty turn live notifications on (Bob keeps the default, off);
	# Carol and Dave want their watchlist only, Patty patrol alerts only. (eval.php reads one
	# statement per line.)
	maint "$dir" eval.php >"$dir/eval.log" 2>&1 <<'EOF'
$services = MediaWiki\MediaWikiServices::getInstance();
$options = $services->getUserOptionsManager();
$modes = [ 'Alice' => 'all', 'Carol' => 'watchlist', 'Dave' => 'watchlist', 'Patty' => 'alerts' ];
foreach ( $modes as $name => $mode ) { $user = $services->getUserFactory()->newFromName( $name ); $options->setOption( $user, 'realtimenotify-enable', 1 ); $options->setOption( $user, 'realtimenotify-mode', $mode ); $options->saveOptions( $user ); }
EOF
	local pref
	pref=$(maint "$dir" userOptions.php --usage realtimenotify-enable 2>/dev/null || true)
	grep -q "4 user(s): '1'" <<<"$pref" \
		|| { cat "$dir/eval.log" >&2; echo "$pref" >&2; die "could not set the users' preferences"; }

	echo "wiki ready in $dir (http://127.0.0.1:$port, wiki id $WIKI_ID)"
}

serve() {
	[[ $# -eq 2 ]] || usage
	local dir=$1 port=$2
	is_port "$port" || die "bad PORT: $port"
	dir=$(cd "$dir" && pwd)
	[[ -f $dir/LocalSettings.php ]] || die "no wiki in $dir (run: $0 create ...)"
	MW_CONFIG_FILE="$dir/LocalSettings.php" exec php -S "127.0.0.1:$port" -t "$MW"
}

show_jobs() {
	[[ $# -eq 1 ]] || usage
	local dir
	dir=$(cd "$1" && pwd)
	[[ -f $dir/LocalSettings.php ]] || die "no wiki in $dir"
	maint "$dir" showJobs.php --group
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
	create) create "$@" ;;
	serve) serve "$@" ;;
	jobs) show_jobs "$@" ;;
	*) usage ;;
esac
