#!/usr/bin/env bash
# The deployment examples, run for real on 127.0.0.1 (free ports, a temporary directory):
#
#   redis-server (no persistence) ── stream mediawiki:events ──┬─ gateway gw1 ─┐
#                                                              └─ gateway gw2 ─┴─ nginx  (wss)
#                                                                               └─ HAProxy (wss)
#
# The gateways run with deploy/realtimenotify.example.toml as it is; nginx with
# deploy/nginx/realtimenotify.conf and HAProxy with deploy/haproxy/realtimenotify.cfg, each with
# only ports, certificate (self-signed, made here) and log paths substituted. Through each proxy
# a WebSocket client (deploy/test/client.mjs) receives events, its gateway is stopped under it
# (kill -9 behind nginx, SIGTERM behind HAProxy) while events keep coming, and it must resume
# through the proxy on the other gateway with exactly every event, in order. Also checked: health
# endpoints, the Origin allow-list and the per-IP limit through the proxies (X-Forwarded-For),
# tokens kept out of access logs, HAProxy's /readyz check, the example TOML (every flag listed,
# every optional line valid) and the systemd unit (systemd-analyze verify).
#
#   bash deploy/test.sh          # builds target/release/realtimenotify first (cargo, --locked)
#   RTN_GATEWAY_BIN=/path/to/realtimenotify bash deploy/test.sh   # no build
#   RTN_KEEP=1 bash deploy/test.sh                                # keep the temporary directory
#
# Needs: redis-server, nginx, haproxy, openssl, node >= 20 (scripts/install-deps.sh installs
# them). Prints "deploy test: N passed, M failed" and exits non-zero on any failure.
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
# Node 20 has WebSocket behind a flag; later versions have it on by default.
NODE=(node --no-warnings)
if [[ $(node -e 'process.stdout.write(typeof WebSocket)') != function ]]; then
	NODE+=(--experimental-websocket)
fi
if [[ $("${NODE[@]}" -e 'process.stdout.write(typeof WebSocket)') != function ]]; then
	echo "deploy/test.sh: this node ($(node --version)) has no WebSocket client; Node.js >= 20 is needed" >&2
	exit 1
fi

if [[ -n ${RTN_GATEWAY_BIN:-} ]]; then
	BIN=$(realpath "$RTN_GATEWAY_BIN")
else
	(cd "$REPO" && cargo build --release --locked -q -p realtimenotify)
	BIN=$REPO/target/release/realtimenotify
fi

# RTN_* settings from the caller's environment would win over the files under test.
for var in $(compgen -v RTN_); do
	[[ $var == RTN_GATEWAY_BIN || $var == RTN_KEEP ]] || unset "$var"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/rtn-deploy.XXXXXX")
PIDS=()
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
check() { # check "description" command...
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

cleanup() {
	local status=$?
	trap - EXIT INT TERM
	[[ -n ${WATCHDOG:-} ]] && kill "$WATCHDOG" 2>/dev/null
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for _ in {1..30}; do
		local alive=0
		for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		(( alive )) || break
		sleep 0.1
	done
	for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if (( failed || status )); then
		for log in "$TMP"/*.log "$TMP"/nginx/*.log; do
			[[ -s $log ]] || continue
			echo "--- last lines of $log"
			tail -n 15 "$log"
		done
	fi
	if [[ -n ${RTN_KEEP:-} ]]; then echo "deploy/test.sh: kept $TMP"; else rm -rf "$TMP"; fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Bounded in time whatever hangs (the build above is not counted).
(
	trap 'kill $! 2>/dev/null; exit 0' TERM
	sleep 60 &
	wait $!
	echo "deploy/test.sh: timed out after 60 s" >&2
	kill -TERM $$
) &
WATCHDOG=$!

started=$SECONDS

# n distinct free ports on 127.0.0.1.
free_ports() {
	node -e '
		const net = require("net");
		const n = Number(process.argv[1]);
		const servers = [];
		(async () => {
			for (let i = 0; i < n; i++) {
				const s = net.createServer();
				await new Promise((r) => s.listen(0, "127.0.0.1", r));
				servers.push(s);
			}
			console.log(servers.map((s) => s.address().port).join(" "));
			servers.forEach((s) => s.close());
		})();' "$1"
}

# HTTP status of GET path on 127.0.0.1:port (plain HTTP, bash only).
http_status() {
	local port=$1 path=$2 line
	{ exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || { echo 000; return; }
	printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
	IFS=' ' read -r -t 2 _ line _ <&3 || line=000
	exec 3<&- 3>&-
	echo "${line:-000}"
}

wait_status() { # wait_status port path status seconds
	local deadline=$((SECONDS + $4))
	while (( SECONDS <= deadline )); do
		[[ $(http_status "$1" "$2") == "$3" ]] && return 0
		sleep 0.1
	done
	return 1
}

wait_until() { # wait_until seconds command...
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do (( SECONDS < deadline )) || return 1; sleep 0.2; done
}

port_open() { { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null && exec 3<&- 3>&-; }

# Copies file to dest with each "from=>to" replacement applied; fails if one did not match
# (the shipped file changed and the test would no longer run what it claims to).
render() {
	local src=$1 dest=$2 text rule from to
	shift 2
	text=$(<"$src")
	for rule in "$@"; do
		from=${rule%%=>*}
		to=${rule#*=>}
		if [[ $text != *"$from"* ]]; then
			echo "render: '$from' not found in $src" >&2
			return 1
		fi
		text=${text//"$from"/"$to"}
	done
	printf '%s\n' "$text" >"$dest"
}

read -r REDIS_PORT GW1_PORT GW2_PORT NGINX_PORT HAPROXY_PORT STATS_PORT SPARE_PORT < <(free_ports 7)
STREAM=mediawiki:events

echo "deploy test: redis :$REDIS_PORT, gateways :$GW1_PORT :$GW2_PORT, nginx :$NGINX_PORT, haproxy :$HAPROXY_PORT ($TMP)"

# --- Static checks of the example files ------------------------------------------------------

# Every setting of `serve` appears in the example TOML, as a live or a commented-out line.
flags=$("$BIN" serve --help | grep -oE '^ +--[a-z][a-z-]*' | sed 's/^ *--//' | grep -vxE 'config|help')
unlisted=()
for flag in $flags; do
	grep -qE "^#?$flag = " "$DEPLOY/realtimenotify.example.toml" || unlisted+=("$flag")
done
check "the example TOML lists every setting of 'serve --help' (${unlisted[*]:-none missing})" test ${#unlisted[@]} -eq 0

# With every optional line switched on, the gateway still accepts the file.
sed -E 's/^#([a-z-]+ = )/\1/' "$DEPLOY/realtimenotify.example.toml" >"$TMP/all-settings.toml"
"$BIN" serve --config "$TMP/all-settings.toml" --listen "127.0.0.1:$SPARE_PORT" \
	--redis-url "redis://127.0.0.1:$REDIS_PORT" >"$TMP/all-settings.log" 2>&1 &
pid=$!
PIDS+=("$pid")
check "the example TOML with every optional line switched on is accepted" wait_status "$SPARE_PORT" /healthz 200 10
kill -TERM "$pid" 2>/dev/null || true

# The systemd unit: systemd's own parser, pointed at the binary under test.
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$TMP/systemd"
	sed "s#/usr/local/bin/realtimenotify#$BIN#" "$DEPLOY/systemd/realtimenotify@.service" >"$TMP/systemd/realtimenotify@.service"
	cp "$TMP/systemd/realtimenotify@.service" "$TMP/systemd/realtimenotify@gw1.service"
	out=$(cd "$TMP/systemd" && systemd-analyze verify ./realtimenotify@gw1.service 2>&1) && [[ -z $out ]] \
		&& ok "systemd-analyze verify: realtimenotify@.service is clean" \
		|| not_ok "systemd-analyze verify: realtimenotify@.service: $out"
else
	echo "# skipped: systemd-analyze not installed, the systemd unit is not checked"
fi

# --- Redis and two gateways ----------------------------------------------------------------

mkdir -p "$TMP/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP/redis" \
	>"$TMP/redis.log" 2>&1 &
PIDS+=($!)

declare -A GW_PORT=([gw1]=$GW1_PORT [gw2]=$GW2_PORT) GW_PID=()
start_gateway() { # start_gateway name
	rm -f "$TMP/$1.pid" "$TMP/$1.status"
	# A wrapper records the exit status, and keeps bash from reporting the kill -9 ("Killed").
	# The gateway's stderr goes to a file, not a pipe that may close (deploy/README.md, systemd).
	(
		RTN_LOG=info "$BIN" serve --config "$DEPLOY/realtimenotify.example.toml" \
			--listen "127.0.0.1:${GW_PORT[$1]}" --redis-url "redis://127.0.0.1:$REDIS_PORT" \
			--max-connections-per-ip 2 >>"$TMP/$1.log" 2>&1 &
		echo $! >"$TMP/$1.pid"
		wait $!
		echo $? >"$TMP/$1.status"
	) 2>/dev/null &
	PIDS+=($!)
	for _ in {1..50}; do [[ -s $TMP/$1.pid ]] && break; sleep 0.05; done
	GW_PID[$1]=$(<"$TMP/$1.pid")
	PIDS+=("${GW_PID[$1]}")
	wait_status "${GW_PORT[$1]}" /readyz 200 10
}
check "gateway gw1 ready with deploy/realtimenotify.example.toml (redis-stream)" start_gateway gw1
check "gateway gw2 ready with deploy/realtimenotify.example.toml (redis-stream)" start_gateway gw2

# --- TLS material --------------------------------------------------------------------------

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>"$TMP/openssl.log"
cat "$TMP/cert.pem" "$TMP/key.pem" >"$TMP/haproxy.pem"
export NODE_EXTRA_CA_CERTS=$TMP/cert.pem

# --- nginx ---------------------------------------------------------------------------------

mkdir -p "$TMP/nginx/tmp"
render "$DEPLOY/nginx/realtimenotify.conf" "$TMP/nginx/realtimenotify.conf" \
	"server 127.0.0.1:8081 =>server 127.0.0.1:$GW1_PORT " \
	"server 127.0.0.1:8082 =>server 127.0.0.1:$GW2_PORT " \
	"listen 443 ssl;=>listen 127.0.0.1:$NGINX_PORT ssl;" \
	"listen [::]:443 ssl;=>" \
	"/etc/ssl/certs/notify.example.org.pem=>$TMP/cert.pem" \
	"/etc/ssl/private/notify.example.org.key=>$TMP/key.pem" \
	"/var/log/nginx/realtimenotify.access.log=>$TMP/nginx/access.log"
# The main context Debian's /etc/nginx/nginx.conf would provide, minus what needs root or /var.
{
	# As root, nginx would switch its workers to "nobody", which cannot enter $TMP (mode 700).
	[[ $(id -u) -eq 0 ]] && echo "user $(id -un) $(id -gn);"
	cat <<-EOF
		worker_processes 1;
		events { worker_connections 1024; }
		http {
		    client_body_temp_path $TMP/nginx/tmp/body;
		    proxy_temp_path       $TMP/nginx/tmp/proxy;
		    fastcgi_temp_path     $TMP/nginx/tmp/fastcgi;
		    uwsgi_temp_path       $TMP/nginx/tmp/uwsgi;
		    scgi_temp_path        $TMP/nginx/tmp/scgi;
		    access_log            $TMP/nginx/other-access.log;
		    include               $TMP/nginx/realtimenotify.conf;
		}
	EOF
} >"$TMP/nginx/nginx.conf"
NGINX=(nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log"
	-g "daemon off; pid $TMP/nginx/nginx.pid; error_log $TMP/nginx/error.log info;")
check "nginx -t accepts deploy/nginx/realtimenotify.conf" "${NGINX[@]}" -t -q

# As installed: in Debian's stock nginx.conf, beside its default site (nginx -t binds nothing;
# only the pid, log and sites paths are moved into $TMP). Needs root for /var/lib/nginx.
if [[ -f /etc/nginx/nginx.conf && $(id -u) -eq 0 ]]; then
	mkdir -p "$TMP/stock/sites-enabled" "$TMP/stock/log"
	sed -e "s#/etc/nginx/sites-enabled/#$TMP/stock/sites-enabled/#" -e "s#/var/log/nginx/#$TMP/stock/log/#g" \
		-e "s#/run/nginx.pid#$TMP/stock/nginx.pid#" /etc/nginx/nginx.conf >"$TMP/stock/nginx.conf"
	[[ -f /etc/nginx/sites-available/default ]] && cp /etc/nginx/sites-available/default "$TMP/stock/sites-enabled/"
	cp "$TMP/nginx/realtimenotify.conf" "$TMP/stock/sites-enabled/"
	check "nginx -t: the site file in Debian's stock nginx.conf, beside the default site" \
		nginx -q -t -c "$TMP/stock/nginx.conf" -e "$TMP/stock/log/error.log"
else
	echo "# skipped: the site file in Debian's stock nginx.conf (needs root and /etc/nginx/nginx.conf)"
fi
"${NGINX[@]}" >"$TMP/nginx/stdout.log" 2>&1 &
PIDS+=($!)
check "nginx listens on 127.0.0.1:$NGINX_PORT" wait_until 5 port_open "$NGINX_PORT"

client_round() { # client_round proxy url signal accessLog [statsUrl]
	local opts out rc
	opts=$(printf '{"proxy":"%s","url":"%s","signal":"%s","accessLog":"%s","statsUrl":"%s","redisPort":%s,"streamKey":"%s","events":60,"origin":"https://wiki.example.org","gateways":[{"name":"gw1","port":%s,"pid":%s},{"name":"gw2","port":%s,"pid":%s}]}' \
		"$1" "$2" "$3" "$4" "${5:-}" "$REDIS_PORT" "$STREAM" "$GW1_PORT" "${GW_PID[gw1]}" "$GW2_PORT" "${GW_PID[gw2]}")
	set +e
	out=$("${NODE[@]}" "$DEPLOY/test/client.mjs" "$opts" 2>&1)
	rc=$?
	set -e
	echo "$out" | grep -v '^stopped '
	passed=$((passed + $(grep -c '^ok ' <<<"$out" || true)))
	failed=$((failed + $(grep -c '^not ok ' <<<"$out" || true)))
	if (( rc != 0 )) && ! grep -q '^not ok ' <<<"$out"; then not_ok "$1 round: client exited with $rc"; fi
	STOPPED=$(sed -n 's/^stopped //p' <<<"$out")
}

restart_stopped() { # restart_stopped signal expected-exit-status
	[[ -n $STOPPED ]] || return 0
	local status=none
	for _ in {1..150}; do [[ -s $TMP/$STOPPED.status ]] && break; sleep 0.1; done
	[[ -s $TMP/$STOPPED.status ]] && status=$(<"$TMP/$STOPPED.status")
	check "gateway $STOPPED exited after $1 (status $status, expected $2)" test "$status" = "$2"
	check "gateway $STOPPED restarted" start_gateway "$STOPPED"
}

client_round nginx "https://127.0.0.1:$NGINX_PORT" SIGKILL "$TMP/nginx/access.log"
restart_stopped "kill -9" 137

# --- HAProxy -------------------------------------------------------------------------------

render "$DEPLOY/haproxy/realtimenotify.cfg" "$TMP/haproxy.cfg" \
	"    chroot /var/lib/haproxy
=>" \
	"    stats socket /run/haproxy/admin.sock mode 660 level admin
=>" \
	"    stats timeout 30s
=>" \
	"    user haproxy
=>" \
	"    group haproxy
=>" \
	"    daemon
=>" \
	"    log /dev/log local0
    log /dev/log local1 notice=>    log stdout format raw local0" \
	"    maxconn 100000=>    maxconn 4096" \
	"bind :443 ssl crt /etc/haproxy/certs/notify.example.org.pem=>bind 127.0.0.1:$HAPROXY_PORT ssl crt $TMP/haproxy.pem" \
	"server gw1 127.0.0.1:8081=>server gw1 127.0.0.1:$GW1_PORT" \
	"server gw2 127.0.0.1:8082=>server gw2 127.0.0.1:$GW2_PORT" \
	"bind 127.0.0.1:8404=>bind 127.0.0.1:$STATS_PORT"
check "haproxy -c accepts deploy/haproxy/realtimenotify.cfg" haproxy -q -c -f "$TMP/haproxy.cfg"
haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
PIDS+=($!)
check "HAProxy listens on 127.0.0.1:$HAPROXY_PORT" wait_until 5 port_open "$HAPROXY_PORT"
haproxy_server_up() { # both gateways UP on HAProxy's stats page
	local csv
	csv=$( (exec 3<>"/dev/tcp/127.0.0.1/$STATS_PORT" && printf 'GET /stats;csv HTTP/1.0\r\n\r\n' >&3 && cat <&3) 2>/dev/null) || return 1
	[[ $(grep -cE "^realtimenotify,gw[12],([^,]*,){15}UP," <<<"$csv") == 2 ]]
}
check "HAProxy sees both gateways UP (GET /readyz checks)" wait_until 10 haproxy_server_up

client_round haproxy "https://127.0.0.1:$HAPROXY_PORT" SIGTERM "$TMP/haproxy.log" "http://127.0.0.1:$STATS_PORT/stats"
restart_stopped SIGTERM 0
check "HAProxy takes the restarted gateway back in (UP)" wait_until 10 haproxy_server_up

echo "deploy test: $passed passed, $failed failed ($((SECONDS - started)) s)"
(( failed == 0 ))
