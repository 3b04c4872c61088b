#!/usr/bin/env bash
# A private RabbitMQ node for tests, the e2e wiki and the bench: its own node
# name, AMQP port, distribution port, epmd port, Erlang cookie, data and logs,
# all under one directory, so it never touches a broker already running on
# the machine (Debian's rabbitmq-server listens on 5672 as a service).
#
#   bash scripts/rabbitmq-node.sh start DIR [--watch PID]   # start (or restart, same ports and data);
#                                             # prints the AMQP URL; with --watch, the node is stopped
#                                             # and DIR removed when process PID exits (a test run
#                                             # that dies cleans up after itself)
#   bash scripts/rabbitmq-node.sh stop DIR    # stop the node and its epmd (data kept: start again to restart)
#   bash scripts/rabbitmq-node.sh kill DIR    # SIGKILL the node (a crash), epmd kept for a restart
#   bash scripts/rabbitmq-node.sh ctl DIR ARGS...   # rabbitmqctl against this node
#   bash scripts/rabbitmq-node.sh url DIR     # the AMQP URL (with its credentials)
#
# DIR/env holds RTN_AMQP_URL, RTN_AMQP_PORT, RABBITMQ_NODENAME: source it.
# The node has its own user (`rtn`, random password) and no guest login over
# the network; no plugin is enabled, so it starts in a few seconds.
#
# Why a private epmd (ERL_EPMD_PORT): the distribution name server is
# shared by every Erlang node on a port; with its own, the node neither
# depends on nor registers with the machine's, and `stop` can end it by port.
set -euo pipefail

SELF=$(readlink -f "$0")
RABBIT_BIN=${RABBIT_BIN:-/usr/lib/rabbitmq/bin}
# How long a start may take: several seconds on an idle machine, far more on a loaded one.
START_TIMEOUT=${RTN_RABBITMQ_START_TIMEOUT:-90}

die() { echo "rabbitmq-node: $*" >&2; exit 1; }

# free_port
source "$(dirname "${BASH_SOURCE[0]}")/lib/net.sh"

# The node's environment, from DIR (created on first start).
setup() {
    local dir=$1
    [ -x "$RABBIT_BIN/rabbitmq-server" ] || die "rabbitmq-server is not installed (apt-get install rabbitmq-server; scripts/install-deps.sh does)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ ! -f "$dir/ports" ]; then
        local amqp dist epmd
        amqp=$(free_port); dist=$(free_port); epmd=$(free_port)
        local pass
        pass=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20)
        echo "$amqp $dist $epmd $pass" >"$dir/ports"
        mkdir -p "$dir/home" "$dir/mnesia" "$dir/log"
        head -c 30 /dev/urandom | base64 | tr -dc 'A-Z' | head -c 20 >"$dir/home/.erlang.cookie"
        chmod 400 "$dir/home/.erlang.cookie"
        echo '[].' >"$dir/enabled_plugins"
        : >"$dir/rabbitmq-env.conf"
        cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$amqp
default_user = rtn
default_pass = $pass
loopback_users = none
log.console = false
log.file.level = info
EOF
    fi
    read -r AMQP_PORT DIST_PORT EPMD_PORT PASS <"$dir/ports"
    export HOME="$dir/home"
    export ERL_EPMD_PORT=$EPMD_PORT
    export RABBITMQ_NODENAME="rtn-$AMQP_PORT@localhost"
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT=$AMQP_PORT
    export RABBITMQ_DIST_PORT=$DIST_PORT
    export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
    export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
    export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
    export RABBITMQ_MNESIA_BASE="$dir/mnesia"
    export RABBITMQ_LOG_BASE="$dir/log"
    export RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
    DIR=$dir
    URL="amqp://rtn:$PASS@127.0.0.1:$AMQP_PORT/%2f"
    cat >"$dir/env" <<EOF
RTN_AMQP_URL='$URL'
RTN_AMQP_PORT=$AMQP_PORT
RABBITMQ_NODENAME=$RABBITMQ_NODENAME
EOF
}

ctl() {
    "$RABBIT_BIN/rabbitmqctl" -n "$RABBITMQ_NODENAME" "$@"
}

# Whether the node's AMQP port answers with the protocol header.
amqp_up() {
    python3 - "$AMQP_PORT" <<'EOF'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
    s.sendall(b"AMQP\x00\x00\x09\x01")
    ok = len(s.recv(8)) > 0
    s.close()
    sys.exit(0 if ok else 1)
except OSError:
    sys.exit(1)
EOF
}

start() {
    setup "$1"
    if [ -f "$DIR/server.pid" ] && kill -0 "$(cat "$DIR/server.pid")" 2>/dev/null && amqp_up; then
        echo "$URL"
        return
    fi
    # setsid: the node outlives this script, and the caller's Ctrl-C does not reach it.
    setsid "$RABBIT_BIN/rabbitmq-server" >>"$DIR/log/startup.log" 2>&1 </dev/null &
    echo $! >"$DIR/server.pid"
    local waited=0
    until amqp_up; do
        if ! kill -0 "$(cat "$DIR/server.pid")" 2>/dev/null; then
            tail -n 30 "$DIR/log/startup.log" >&2 || true
            die "the node exited during start (logs in $DIR/log)"
        fi
        if [ "$waited" -ge $((START_TIMEOUT * 4)) ]; then
            tail -n 30 "$DIR/log/startup.log" >&2 || true
            die "the node did not accept AMQP within ${START_TIMEOUT}s (logs in $DIR/log)"
        fi
        sleep 0.25
        waited=$((waited + 1))
    done
    echo "$URL"
}

# Stops the node once process $2 is gone (however it ended), then exits.
watch() {
    local dir=$1 pid=$2
    [ -f "$dir/watcher.pid" ] && kill -0 "$(cat "$dir/watcher.pid")" 2>/dev/null && return
    (
        trap '' HUP INT
        while kill -0 "$pid" 2>/dev/null; do sleep 2; done
        if [ -f "$dir/ports" ]; then
            bash "$SELF" stop "$dir" >/dev/null 2>&1 || true
            rm -rf "$dir"
        fi
    ) </dev/null >/dev/null 2>&1 &
    echo $! >"$dir/watcher.pid"
}

# The Erlang VM's pid: the wrapper script's child (`erl` execs beam.smp).
beam_pid() {
    [ -f "$DIR/rabbitmq.pid" ] && cat "$DIR/rabbitmq.pid" && return
    pgrep -P "$(cat "$DIR/server.pid" 2>/dev/null || echo 0)" 2>/dev/null | head -n 1
}

stop() {
    [ -f "$1/ports" ] || return 0 # never started (or removed already)
    setup "$1"
    local pid
    pid=$(cat "$DIR/server.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        # SIGTERM to the wrapper: it stops the node properly and exits.
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 120); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        if kill -0 "$pid" 2>/dev/null; then
            local beam
            beam=$(beam_pid || true)
            [ -n "$beam" ] && kill -KILL "$beam" 2>/dev/null || true
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$DIR/server.pid"
    if [ "${2:-}" != "--keep-epmd" ]; then
        # Only this node's epmd, by its port.
        epmd -port "$EPMD_PORT" -kill >/dev/null 2>&1 || true
    fi
}

crash() {
    [ -f "$1/ports" ] || return 0
    setup "$1"
    local beam pid
    pid=$(cat "$DIR/server.pid" 2>/dev/null || true)
    beam=$(beam_pid || true)
    [ -n "$beam" ] && kill -KILL "$beam" 2>/dev/null || true
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
    rm -f "$DIR/server.pid"
}

cmd=${1:-}
[ $# -ge 2 ] || die "usage: $0 start|stop|kill|url|ctl DIR [ARGS...]"
case "$cmd" in
    start)
        start "$2"
        if [ "${3:-}" = "--watch" ] && [ -n "${4:-}" ]; then watch "$DIR" "$4"; fi
        ;;
    stop) stop "$2" "${3:-}" ;;
    kill) crash "$2" ;;
    url) setup "$2"; echo "$URL" ;;
    ctl) setup "$2"; shift 2; ctl "$@" ;;
    *) die "unknown command $cmd" ;;
esac
