#!/usr/bin/env bash
# Deliveries/s and end-to-end latency through each durable broker, side by side in one run: the
# Redis Stream source and the RabbitMQ stream source (src/bin/rtn-bench-brokers.rs says what is
# measured). Starts its own redis-server and a private rabbitmq-server (scripts/rabbitmq-node.sh),
# one gateway for each, and stops them all at the end.
#
#   bash bench/brokers.sh [--no-build] [rtn-bench-brokers options, e.g. --clients 100 --events 5000]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=1
if [[ ${1:-} == --no-build ]]; then BUILD=0; shift; fi
if (( BUILD )); then
	(cd "$ROOT" && cargo build --release --locked -p realtimenotify -p rtn-bench --bin realtimenotify --bin rtn-bench-brokers)
fi
WORK=$(mktemp -d /tmp/rtn-bench-brokers.XXXXXX)
PIDS=()
cleanup() {
	for pid in "${PIDS[@]:-}"; do [[ -n $pid ]] && kill "$pid" 2>/dev/null || true; done
	bash "$ROOT/scripts/rabbitmq-node.sh" stop "$WORK/rabbitmq" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
# free_port, wait_ready
source "$ROOT/scripts/lib/net.sh"
ready() { wait_ready "$1" 30 || { echo "gateway $1 not ready" >&2; exit 1; }; }

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
AMQP_URL=$(bash "$ROOT/scripts/rabbitmq-node.sh" start "$WORK/rabbitmq" --watch $$)
BIN=$ROOT/target/release/realtimenotify
A=127.0.0.1:$(free_port)
B=127.0.0.1:$(free_port)
RTN_LOG=warn "$BIN" serve --listen "$A" --source redis-stream --redis-url "redis://127.0.0.1:$REDIS_PORT" >"$WORK/gw-redis.log" 2>&1 &
PIDS+=($!)
RTN_LOG=warn RTN_AMQP_URL=$AMQP_URL "$BIN" serve --listen "$B" --source rabbitmq >"$WORK/gw-rabbitmq.log" 2>&1 &
PIDS+=($!)
ready "$A"
ready "$B"
"$ROOT/target/release/rtn-bench-brokers" --redis-url "redis://127.0.0.1:$REDIS_PORT" --redis-ws "ws://$A/v1/ws" \
	--amqp-url "$AMQP_URL" --amqp-ws "ws://$B/v1/ws" "$@"
