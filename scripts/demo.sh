#!/usr/bin/env bash
# The main job: a local wiki with live notifications, ready to try.
#
#   bash scripts/demo.sh          installs what is missing, builds the gateway, starts redis-server,
#                                 the gateway and a fresh MediaWiki (in .work/demo), prints how to
#                                 use them, and runs until Ctrl-C, which stops everything.
#   bash scripts/demo.sh event [SUMMARY]
#                                 (in another terminal, while the demo runs) Bob edits the page
#                                 "Demo page": a real edit, which Alice sees pop up.
#
# Settings (environment): RTN_WIKI_PORT (8090), RTN_GATEWAY_PORT and RTN_REDIS_PORT (free ports
# when unset), RTN_DEMO_DIR (.work/demo).
# MediaWiki 1.43 with Echo (live Echo badges and notifications, patrol alerts kept in Echo):
#   RTN_MW=1.43 RTN_ECHO=/path/to/Echo-REL1_43.tar.gz bash scripts/demo.sh
# RTN_MW picks the version (default: the host's; another runs in the Debian root of
# scripts/mw-root.sh, built the first time); RTN_ECHO is Echo's REL1_43 tarball (MediaWiki 1.43
# only), extracted into the demo wiki's folder.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${RTN_DEMO_DIR:-$REPO/.work/demo}
# The accounts e2e/wiki.sh creates, and their passwords: e2e/accounts.
password() { awk -v user="$1" '$1 == user { print $2 }' "$REPO/e2e/accounts"; }
BOB_PASS=$(password Bob)

# free_port
source "$REPO/scripts/lib/net.sh"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_http() { # URL SECONDS NAME PID
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		kill -0 "$4" 2>/dev/null || { echo "demo: $3 exited; see its log in $DIR" >&2; return 1; }
		sleep 0.1
	done
	echo "demo: $3 did not come up within $2 s; see its log in $DIR" >&2
	return 1
}

# ---- demo.sh event: a real edit by Bob on the running demo wiki --------------------------
if [[ ${1:-} == event ]]; then
	[[ -f $DIR/demo.env ]] || { echo "demo: no demo running (no $DIR/demo.env)" >&2; exit 1; }
	# shellcheck source=/dev/null
	source "$DIR/demo.env"
	summary=${2:-"Demo edit at $(date +%T)"}
	printf 'Edited by the demo at %s.\n' "$(date)" |
		RTN_MW_ROOT=${MW_ROOT:-} bash "$REPO/e2e/wiki.sh" maint "${WIKI_DIR:-$DIR/wiki}" edit.php \
			--user Bob --summary "$summary" "Demo page"
	echo "Bob edited \"Demo page\" ($summary): watch Alice's browser at $WIKI_URL"
	exit 0
fi
[[ $# -eq 0 ]] || { sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# The MediaWiki version, and where its wiki lives (inside the Debian root for a version the host
# does not have: its PHP must see the folder).
MW_VERSION=${RTN_MW:-$(bash "$REPO/scripts/mw-root.sh" host-version)}
ECHO_TARBALL=${RTN_ECHO:-}
if [[ -n $ECHO_TARBALL ]]; then
	[[ $MW_VERSION == 1.43 ]] || { echo "demo: Echo REL1_43 needs MediaWiki 1.43 (set RTN_MW=1.43)" >&2; exit 2; }
	[[ -f $ECHO_TARBALL ]] || { echo "demo: RTN_ECHO: no file $ECHO_TARBALL" >&2; exit 2; }
	ECHO_TARBALL=$(cd "$(dirname "$ECHO_TARBALL")" && pwd)/$(basename "$ECHO_TARBALL")
fi

echo "==> dependencies"
bash "$REPO/scripts/install-deps.sh"

MW_ROOT=""
WIKI_DIR=$DIR/wiki
if bash "$REPO/scripts/mw-root.sh" needs-root "$MW_VERSION"; then
	echo "==> MediaWiki $MW_VERSION (a Debian root, built once: a few minutes the first time)"
	MW_ROOT=$(bash "$REPO/scripts/mw-root.sh" ensure "$MW_VERSION")
	WIKI_DIR=$MW_ROOT/tmp/realtimenotify-demo-wiki
fi
export RTN_MW_ROOT=$MW_ROOT

echo "==> building the gateway (release)"
(cd "$REPO" && cargo build --release --locked -p realtimenotify)

WIKI_PORT=${RTN_WIKI_PORT:-8090}
REDIS_PORT=${RTN_REDIS_PORT:-$(free_port)}
GATEWAY_PORT=${RTN_GATEWAY_PORT:-$(free_port)}
for p in "$WIKI_PORT" "$REDIS_PORT" "$GATEWAY_PORT"; do
	if port_busy "$p"; then
		echo "demo: port $p is in use (another demo running?); set RTN_WIKI_PORT / RTN_REDIS_PORT / RTN_GATEWAY_PORT" >&2
		exit 1
	fi
done
WIKI_URL="http://127.0.0.1:$WIKI_PORT"
WS_URL="ws://127.0.0.1:$GATEWAY_PORT/v1/ws"

mkdir -p "$DIR"
pids=()
stop_all() {
	trap - INT TERM EXIT
	echo
	echo "==> stopping"
	local pid
	# The wiki server first (no more edits), then the gateway (closes sockets with 1001), then Redis.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		pid=${pids[i]}
		# The whole session: php -S with workers has children of its own.
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -f "$DIR/demo.env"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
# Each service runs in its own session (setsid), so that Ctrl-C reaches only this script, which
# then stops them in order: the wiki, the gateway (it closes its sockets with 1001), Redis.

# The full design: the wiki appends every change to a Redis Stream (durable: a gateway restart or a
# browser that reconnects misses nothing), and browsers connect with signed tokens, which is what
# makes the watchlist and patrol-alert modes work. The secret is new for every demo run.
STREAM=mediawiki:events
SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

echo "==> redis-server on 127.0.0.1:$REDIS_PORT"
setsid redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$DIR/redis.log" 2>&1 &
pids+=($!)

echo "==> gateway on 127.0.0.1:$GATEWAY_PORT (source: Redis Stream $STREAM)"
RTN_TOKEN_SECRETS=$SECRET NO_COLOR=1 setsid "$REPO/target/release/realtimenotify" serve \
	--listen "127.0.0.1:$GATEWAY_PORT" --source redis-stream --stream-key "$STREAM" \
	--redis-url "redis://127.0.0.1:$REDIS_PORT" --wiki-id testwiki \
	--allowed-origins "http://127.0.0.1:$WIKI_PORT,http://localhost:$WIKI_PORT" >"$DIR/gateway.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$GATEWAY_PORT/readyz" 20 gateway "${pids[-1]}"

echo "==> MediaWiki $MW_VERSION in $WIKI_DIR${ECHO_TARBALL:+ (with Echo)}"
mkdir -p "$WIKI_DIR"
echo_php=""
if [[ -n $ECHO_TARBALL ]]; then
	rm -rf "$WIKI_DIR/echo"
	mkdir -p "$WIKI_DIR/echo"
	tar -xzf "$ECHO_TARBALL" -C "$WIKI_DIR/echo"
	echo_dir=$WIKI_DIR/echo/Echo
	[[ -z $MW_ROOT ]] || echo_dir=/${echo_dir#"$MW_ROOT"/}
	echo_php="wfLoadExtension( 'Echo', '$echo_dir/extension.json' );"
fi
cat >"$WIKI_DIR/extra.php" <<EOF
<?php
// Written by scripts/demo.sh: publish to the stream (not pub/sub), sign connection tokens.
\$wgRealTimeNotifyRedisStream = '$STREAM';
\$wgRealTimeNotifyRedisChannel = null;
\$wgRealTimeNotifySecret = '$SECRET';
$echo_php
EOF
# update.php too: the table of patrol alerts that persist (Special:PatrolAlerts), and Echo's.
RTN_WIKI_UPDATE=1 bash "$REPO/e2e/wiki.sh" create "$WIKI_DIR" "$WIKI_PORT" "$REDIS_PORT" "$WS_URL"
PHP_CLI_SERVER_WORKERS=4 setsid bash "$REPO/e2e/wiki.sh" serve "$WIKI_DIR" "$WIKI_PORT" >"$DIR/wiki.log" 2>&1 &
pids+=($!)
wait_http "$WIKI_URL/api.php?action=query&format=json" 20 "the wiki" "${pids[-1]}"

cat >"$DIR/demo.env" <<EOF
WIKI_URL=$WIKI_URL
WIKI_DIR=$WIKI_DIR
MW_ROOT=$MW_ROOT
REDIS_PORT=$REDIS_PORT
GATEWAY_PORT=$GATEWAY_PORT
EOF

cat <<EOF

  RealTimeNotify demo is running.

  Wiki:     $WIKI_URL
  Accounts: Alice / $(password Alice)   (live notifications ON: every change)
            Bob   / $BOB_PASS     (live notifications off: he makes the changes)
            Carol / $(password Carol)   (ON, mode "watchlist": only pages she watches)
            Patty / $(password Patty)   (patroller, mode "alerts": blankings, large removals...)
            Admin / $(password Admin)   (administrator)

  Watch edits arrive:
    1. In a browser, open $WIKI_URL/index.php?title=Special:UserLogin and sign in as Alice.
    2. In another browser (or a private window), sign in as Bob and edit any page.
       A popup "Live change — Bob edited …" appears in Alice's window within a second.
       Open several tabs as Alice: they share one connection, and each change pops up once.
    3. Sign in as Patty somewhere else and let Bob blank a page: Patty gets a patrol alert.
       Missed alerts wait on $WIKI_URL/index.php?title=Special:PatrolAlerts (and, with Echo, in
       Echo's alerts) until someone patrols, reverts or marks them handled.
    4. With Echo (RTN_MW=1.43 RTN_ECHO=...): let Bob write on User talk:Alice; Alice's bell
       counts up and a popup shows the notification, live; mark it read in one of her tabs and
       the others' badges follow.

  Or fire a test event from a terminal:
    bash scripts/demo.sh event "my summary"        # a real edit by Bob
    redis-cli -p $REDIS_PORT XADD $STREAM '*' event \\
      '{"page_title":"Hello","user_name":"Carol","timestamp":"2026-01-01T00:00:00Z","summary":"raw event"}'

  Events go through the Redis Stream $STREAM, so nothing is missed: close Alice's tab, let Bob
  edit, open the wiki again within a minute, and the change she missed pops up.

  Gateway:  $WS_URL   (metrics: http://127.0.0.1:$GATEWAY_PORT/metrics)
  MediaWiki: $MW_VERSION${ECHO_TARBALL:+, with Echo}
  Logs:     $DIR/{gateway,redis,wiki}.log, $WIKI_DIR/realtimenotify.log

  Ctrl-C stops everything.
EOF

# Stay in the foreground until Ctrl-C, or until one of the three stops by itself.
set +e
wait -n "${pids[@]}"
echo "demo: a process stopped by itself; see the logs in $DIR" >&2
exit 1
