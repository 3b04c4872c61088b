#!/usr/bin/env bash
# Throwaway MediaWiki (Debian's package: the host's, or one in a root made by
# scripts/mw-root.sh) with RealTimeNotify loaded.
#
#   e2e/wiki.sh create DIR PORT REDIS_PORT GATEWAY_WS_URL
#       Install a fresh SQLite wiki into DIR (any wiki already there is wiped; DIR/extra.php
#       is kept), load the extension from this checkout, create the users of e2e/accounts:
#         Admin / RealTime-Admin-1   (sysop, bureaucrat)
#         Alice / RealTime-Alice-1   (realtimenotify-enable = 1)
#         Bob   / RealTime-Bob-1     (preference off)
#         Carol / RealTime-Carol-1   (enabled, realtimenotify-mode = watchlist)
#         Dave  / RealTime-Dave-1    (enabled, realtimenotify-mode = watchlist)
#         Patty / RealTime-Patty-1   (group patroller: right patrol; enabled, mode = alerts)
#       Wiki id (event "wiki", token "aud"): testwiki.  Server: http://127.0.0.1:PORT
#       Logs: DIR/realtimenotify.log (extension), DIR/exception.log, DIR/error.log,
#       DIR/deprecated.log (MediaWiki's channels) and DIR/php-error.log (PHP's own error log:
#       E_ALL, $wgDevelopmentWarnings on).
#       DIR/extra.php, if it exists, is loaded last by LocalSettings.php (per-test settings).
#       RTN_WIKI_UPDATE=1 runs update.php --quick before the users are created.
#   e2e/wiki.sh serve DIR PORT
#       Serve it with PHP's built-in server in the foreground (the caller backgrounds it), with
#       e2e/lib/router.php as its router (copied to DIR).
#   e2e/wiki.sh maint DIR SCRIPT [ARGS...]
#       Run a maintenance script of core (e.g. edit.php) on the wiki in DIR.
#   e2e/wiki.sh jobs DIR
#       Its job queue, one line per job type (maintenance/showJobs.php --group).
#
# RTN_MW_ROOT=/path/to/root (from `scripts/mw-root.sh ensure VERSION`): the wiki runs inside that
# root through chroot (its MediaWiki, its PHP); DIR must then be inside the root (e.g.
# ROOT/tmp/...), and the extension is copied into DIR/extensions/. Another extension a test needs
# (e.g. Echo on 1.43) goes into ROOT/usr/share/mediawiki/extensions/, core's extensions folder
# there: wfLoadExtension( 'Echo' ) finds it, and php -S serves its images and styles from it.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXTENSION="$REPO/extension/RealTimeNotify"
ROOT=${RTN_MW_ROOT:-}
if [[ -n $ROOT ]]; then
	ROOT=$(cd "$ROOT" && pwd)
	MW=/usr/share/mediawiki
else
	MW=${MW_INSTALL_PATH:-/usr/share/mediawiki}
fi

WIKI_ID=testwiki
# The accounts and their passwords: e2e/accounts.
password() { awk -v user="$1" '$1 == user { print $2 }' "$REPO/e2e/accounts"; }
ADMIN_PASS=$(password Admin)
ALICE_PASS=$(password Alice)
BOB_PASS=$(password Bob)
CAROL_PASS=$(password Carol)
DAVE_PASS=$(password Dave)
PATTY_PASS=$(password Patty)
MARKER=.realtimenotify-wiki

die() { echo "wiki.sh: $*" >&2; exit 1; }

usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
	exit 2
}

is_port() { [[ $1 =~ ^[0-9]+$ ]] && (( $1 > 0 && $1 < 65536 )); }

# PHP single-quoted string literal.
php_str() { printf "'%s'" "$(printf '%s' "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g")"; }

# Runs a command with the wiki's PHP: the host's, or inside the root (paths as the root sees them).
in_wiki() {
	if [[ -n $ROOT ]]; then
		bash "$REPO/scripts/mw-root.sh" exec "$ROOT" "$@"
	else
		"$@"
	fi
}

# DIR as the wiki's PHP sees it.
inner() {
	if [[ -n $ROOT ]]; then
		[[ $1 == "$ROOT"/* ]] || die "$1 is not inside the MediaWiki root $ROOT"
		echo "/${1#"$ROOT"/}"
	else
		echo "$1"
	fi
}

maint() {
	local dir=$1 script=$2
	shift 2
	in_wiki env MW_CONFIG_FILE="$(inner "$dir")/LocalSettings.php" php "$MW/maintenance/$script" "$@"
}

create() {
	[[ $# -eq 4 ]] || usage
	local dir=$1 port=$2 redis_port=$3 gateway=$4
	is_port "$port" || die "bad PORT: $port"
	is_port "$redis_port" || die "bad REDIS_PORT: $redis_port"
	[[ -f $EXTENSION/extension.json ]] || die "missing $EXTENSION/extension.json"
	[[ -z $ROOT || -f $ROOT/$MW/maintenance/install.php ]] || die "no MediaWiki in the root $ROOT"

	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [[ -e $dir/LocalSettings.php || -e $dir/data ]]; then
		[[ -e $dir/$MARKER ]] || die "$dir holds something that wiki.sh did not create; refusing to wipe it"
		rm -rf "$dir/data" "$dir/images" "$dir/cache" "$dir/tmp" "$dir/LocalSettings.php" \
			"$dir/extensions/RealTimeNotify" "$dir/realtimenotify.log" "$dir/exception.log" \
			"$dir/error.log" "$dir/deprecated.log" "$dir/php-error.log"
	fi
	touch "$dir/$MARKER"
	mkdir -p "$dir/data" "$dir/images" "$dir/cache" "$dir/tmp"

	# idir: DIR as the wiki's PHP sees it; the extension from this checkout, or a copy of it
	# inside the root (a copy per wiki: nothing of the checkout is mounted into the root).
	local idir extension_json
	idir=$(inner "$dir")
	if [[ -n $ROOT ]]; then
		mkdir -p "$dir/extensions"
		cp -a "$EXTENSION" "$dir/extensions/RealTimeNotify"
		extension_json="$idir/extensions/RealTimeNotify/extension.json"
	else
		extension_json="$EXTENSION/extension.json"
	fi

	in_wiki php "$MW/maintenance/install.php" \
		--dbtype sqlite --dbpath "$idir/data" --dbname "$WIKI_ID" \
		--server "http://127.0.0.1:$port" --scriptpath "" \
		--lang en --pass "$ADMIN_PASS" --confpath "$idir" \
		"RealTimeNotify Test Wiki" Admin >"$dir/install.log" 2>&1 \
		|| { cat "$dir/install.log" >&2; die "install.php failed"; }

	cat >>"$dir/LocalSettings.php" <<EOF

# ---- added by e2e/wiki.sh ----
# Every PHP warning, notice and deprecation (MediaWiki's own deprecation warnings too) is logged
# for this wiki, never shown in a response; the e2e harness fails a test file when one of them
# comes from the extension.
error_reporting( E_ALL );
ini_set( 'display_errors', '0' );
ini_set( 'log_errors', '1' );
ini_set( 'error_log', $(php_str "$idir/php-error.log") );
\$wgDevelopmentWarnings = true;

wfLoadExtension( 'RealTimeNotify', $(php_str "$extension_json") );
\$wgRealTimeNotifyRedisServer = $(php_str "127.0.0.1:$redis_port");
\$wgRealTimeNotifyGatewayUrl = $(php_str "$gateway");
\$wgDebugLogGroups['realtimenotify'] = $(php_str "$idir/realtimenotify.log");
\$wgDebugLogGroups['exception'] = $(php_str "$idir/exception.log");
\$wgDebugLogGroups['error'] = $(php_str "$idir/error.log");
\$wgDebugLogGroups['deprecated'] = $(php_str "$idir/deprecated.log");

# A quick local test wiki: no caches to go stale, no mail, no throttles or rate limits.
\$wgMainCacheType = CACHE_NONE;
\$wgSessionCacheType = CACHE_DB;
\$wgCacheDirectory = $(php_str "$idir/cache");
\$wgTmpDirectory = $(php_str "$idir/tmp");
\$wgEnableEmail = false;
\$wgEnableUserEmail = false;
\$wgPasswordAttemptThrottle = false;
\$wgGroupPermissions['user']['noratelimit'] = true;
\$wgShowExceptionDetails = true;
\$wgEnableUploads = true;
\$wgUploadDirectory = $(php_str "$idir/images");
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

	# RTN_WIKI_UPDATE=1: run update.php before the users are made, for tables install.php does
	# not create (the extension's own, and those of an extension DIR/extra.php loads, e.g. Echo).
	if [[ ${RTN_WIKI_UPDATE:-} == 1 ]]; then
		maint "$dir" update.php --quick --skip-config-validation >"$dir/update.log" 2>&1 \
			|| { cat "$dir/update.log" >&2; die "update.php failed"; }
	fi

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
	# The router (e2e/lib/router.php) beside the wiki, where the wiki's PHP sees it.
	cp "$REPO/e2e/lib/router.php" "$dir/router.php"
	local idir
	idir=$(inner "$dir")
	if [[ -n $ROOT ]]; then
		exec bash "$REPO/scripts/mw-root.sh" exec "$ROOT" env MW_CONFIG_FILE="$idir/LocalSettings.php" \
			php -S "127.0.0.1:$port" -t "$MW" "$idir/router.php"
	fi
	MW_CONFIG_FILE="$idir/LocalSettings.php" exec php -S "127.0.0.1:$port" -t "$MW" "$idir/router.php"
}

maint_cmd() {
	[[ $# -ge 2 ]] || usage
	local dir=$1
	dir=$(cd "$dir" && pwd)
	[[ -f $dir/LocalSettings.php ]] || die "no wiki in $dir (run: $0 create ...)"
	shift
	maint "$dir" "$@"
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
	maint) maint_cmd "$@" ;;
	jobs) show_jobs "$@" ;;
	*) usage ;;
esac
