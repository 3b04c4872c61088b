#!/usr/bin/env bash
# RealTimeNotify benchmark: the gateway against the seed design's Node.js server (ws + ioredis),
# same machine, same Redis, one server at a time, restarted before every measurement. This script
# only starts things and runs `rtn-bench` (bench/src/main.rs: one measurement, as JSON); the
# report is `rtn-report summary` (bench/src/report.rs).
#
#   bench/run.sh                 # full run, 3 reps (~15 min)
#   bench/run.sh --quick         # smoke run (~2 min), 1 rep, small sizes
#   bench/run.sh --scenarios "connect latency" --reps 5
#   bench/run.sh --candidate node    # compare two Node peer instances
#
# Scenarios (issue 16's targets in brackets):
#   connect            a reconnect storm: CONNECT_CLIENTS clients at once, time until all are in [1]
#   throughput         a burst through Redis pub/sub, fan-out rate [7]
#   throughput-stream  the same burst XADDed to a Redis Stream (gateway only)
#   latency            100 clients x 200 events/s: CPU per delivery, p50/p99 [2, 3]
#   trickle            1,000 clients x 20 events/s: CPU per delivery, p50/p99 [2, 3]
#   idle               IDLE_CLIENTS connections (connected as a storm), RSS per connection idle
#                      and after 5 events to each [1, 4]
#   sweep              1,000 clients, default settings, at SWEEP_RATES events/s: the highest rate
#                      at which all get every event with p99 < 100 ms [5]
#   backfill           resuming clients that never read, over a prefilled stream (gateway only)
#
# Options:
#   --quick                small sizes, one repetition
#   --reps N               repetitions of every scenario (default 3; backfill 1)
#   --scenarios "A B"      subset of the scenarios above
#   --candidate gateway|node   the server compared with the Node peer (default gateway)
#   --gateway-args "..."   extra `realtimenotify serve` arguments for every scenario
#   --no-build             use the existing target/release binaries
#   --out DIR              where to keep logs and JSON results (default target/rtn-bench/<time>)
#
# Environment knobs: CONNECT_CLIENTS, THROUGHPUT_CLIENTS/EVENTS, LATENCY_CLIENTS/RATE/SECS,
# TRICKLE_CLIENTS/RATE/SECS, IDLE_CLIENTS, SWEEP_CLIENTS/RATES/SECS, BACKFILL_CLIENTS/ENTRIES/HOLD,
# NODE_PEER_DIR (default: ../shared/peers/node-seed beside the repository).
#
# Everything started here (redis-server, the servers) is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHANNEL=mediawiki:notifications
STREAM_KEY=mediawiki:events

# The Node peer lives beside the repository (../shared); a git worktree finds it beside the
# main checkout it belongs to.
peer_dir() {
  local common
  [[ -n ${NODE_PEER_DIR:-} ]] && { echo "$NODE_PEER_DIR"; return; }
  [[ -d $ROOT/../shared/peers/node-seed ]] && { echo "$ROOT/../shared/peers/node-seed"; return; }
  common=$(git -C "$ROOT" rev-parse --path-format=absolute --git-common-dir 2>/dev/null) || true
  echo "$(dirname "${common:-$ROOT/.git}")/../shared/peers/node-seed"
}
NODE_PEER_DIR=$(peer_dir)

QUICK=0 REPS="" CANDIDATE=gateway GATEWAY_ARGS="" BUILD=1 OUT=""
SCENARIOS="connect throughput throughput-stream latency trickle idle sweep backfill"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --reps) REPS=$2; shift ;;
    --scenarios) SCENARIOS=$2; shift ;;
    --candidate) CANDIDATE=$2; shift ;;
    --gateway-args) GATEWAY_ARGS=$2; shift ;;
    --no-build) BUILD=0 ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
case "$CANDIDATE" in gateway|node) ;; *) echo "--candidate must be gateway or node" >&2; exit 2 ;; esac

OUT=${OUT:-$ROOT/target/rtn-bench/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd) # the Node peer runs elsewhere
WORK=$(mktemp -d /tmp/rtn-bench.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]:-}"; do [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]:-}"; do [[ -n "$pid" ]] && wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '[run.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Stops one process we started (by pid) and forgets it.
stop_pid() {
  local pid=$1 keep=() p
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [[ "$p" != "$pid" ]] && keep+=("$p"); done
  PIDS=("${keep[@]:-}")
}

# --- limits and sizes -----------------------------------------------------------------------
HARD_NOFILE=$(ulimit -Hn)
[[ "$HARD_NOFILE" == unlimited ]] && HARD_NOFILE=1048576
ulimit -n "$HARD_NOFILE" 2>/dev/null || true
NOFILE=$(ulimit -n)
if (( QUICK )); then
  CONNECT=${CONNECT_CLIENTS:-500}
  TP_CLIENTS=${THROUGHPUT_CLIENTS:-200}; TP_EVENTS=${THROUGHPUT_EVENTS:-300}
  LAT_CLIENTS=${LATENCY_CLIENTS:-50}; LAT_RATE=${LATENCY_RATE:-200}; LAT_SECS=${LATENCY_SECS:-2}
  TR_CLIENTS=${TRICKLE_CLIENTS:-200}; TR_RATE=${TRICKLE_RATE:-20}; TR_SECS=${TRICKLE_SECS:-2}
  IDLE_WANT=${IDLE_CLIENTS:-2000}
  SW_CLIENTS=${SWEEP_CLIENTS:-200}; SW_RATES=${SWEEP_RATES:-"100 1000"}; SW_SECS=${SWEEP_SECS:-1}
  BF_CLIENTS=${BACKFILL_CLIENTS:-50}; BF_ENTRIES=${BACKFILL_ENTRIES:-10000}; BF_HOLD=${BACKFILL_HOLD:-10}
  REPS=${REPS:-1}
else
  CONNECT=${CONNECT_CLIENTS:-1000}
  TP_CLIENTS=${THROUGHPUT_CLIENTS:-1000}; TP_EVENTS=${THROUGHPUT_EVENTS:-2000}
  LAT_CLIENTS=${LATENCY_CLIENTS:-100}; LAT_RATE=${LATENCY_RATE:-200}; LAT_SECS=${LATENCY_SECS:-10}
  TR_CLIENTS=${TRICKLE_CLIENTS:-1000}; TR_RATE=${TRICKLE_RATE:-20}; TR_SECS=${TRICKLE_SECS:-10}
  IDLE_WANT=${IDLE_CLIENTS:-19000}
  SW_CLIENTS=${SWEEP_CLIENTS:-1000}; SW_RATES=${SWEEP_RATES:-"100 300 1000 2000"}; SW_SECS=${SWEEP_SECS:-3}
  BF_CLIENTS=${BACKFILL_CLIENTS:-200}; BF_ENTRIES=${BACKFILL_ENTRIES:-50000}; BF_HOLD=${BACKFILL_HOLD:-40}
  REPS=${REPS:-3}
fi
# Both the server and rtn-bench hold one fd per connection plus a few of their own.
IDLE=$IDLE_WANT
if (( IDLE > NOFILE - 500 )); then
  IDLE=$(( (NOFILE - 500) / 1000 * 1000 ))
  log "RLIMIT_NOFILE is $NOFILE: the idle scenario uses $IDLE connections instead of $IDLE_WANT"
fi

# --- build, the Node peer, Redis ---------------------------------------------------------------
GATEWAY_BIN=$ROOT/target/release/realtimenotify
BENCH_BIN=$ROOT/target/release/rtn-bench
REPORT_BIN=$ROOT/target/release/rtn-report
if (( BUILD )); then
  log "building release binaries"
  (cd "$ROOT" && cargo build --release --locked -p realtimenotify -p rtn-bench)
fi
for bin in "$BENCH_BIN" "$REPORT_BIN" "$GATEWAY_BIN"; do
  [[ -x "$bin" ]] || { echo "missing $bin (cargo build --release)" >&2; exit 1; }
done
[[ -f $NODE_PEER_DIR/server.js ]] || { echo "no Node peer at $NODE_PEER_DIR (set NODE_PEER_DIR)" >&2; exit 1; }
log "preparing the Node peer from $NODE_PEER_DIR (npm ci)"
cp -r "$NODE_PEER_DIR" "$WORK/node"
chmod -R u+w "$WORK/node"
(cd "$WORK/node" && npm ci --no-audit --no-fund --loglevel=error >"$OUT/npm-ci.log" 2>&1) \
  || { cat "$OUT/npm-ci.log" >&2; exit 1; }

REDIS_PORT=$("$REPORT_BIN" port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --daemonize no --logfile "$OUT/redis.log" &
PIDS+=($!)
for _ in $(seq 1 50); do [[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]] && break; sleep 0.1; done
[[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]] || { echo "redis-server did not start" >&2; exit 1; }
REDIS_URL=redis://127.0.0.1:$REDIS_PORT
log "redis-server on $REDIS_PORT; outputs in $OUT"
numsub() { redis-cli -p "$REDIS_PORT" pubsub numsub "$CHANNEL" 2>/dev/null | tail -n 1; }

# start_server KIND PORT LOG SOURCE EXTRA -> SERVER_PID, SERVER_URL, once it is ready: subscribed
# (pubsub) and, for the gateway, /readyz 200.
start_server() {
  local kind=$1 port=$2 logf=$3 source=$4 extra=$5 gw_source=(--source redis)
  [[ "$(numsub)" == 0 ]] || { echo "another subscriber is still on $CHANNEL" >&2; exit 1; }
  if [[ "$source" == stream ]]; then
    redis-cli -p "$REDIS_PORT" del "$STREAM_KEY" >/dev/null # a previous run's entries would preload
    gw_source=(--source redis-stream --stream-key "$STREAM_KEY")
  fi
  if [[ "$kind" == gateway ]]; then
    # All clients come from 127.0.0.x: no per-address limit.
    # shellcheck disable=SC2086
    RTN_LOG=${RTN_LOG:-warn} "$GATEWAY_BIN" serve --listen "127.0.0.1:$port" "${gw_source[@]}" \
      --redis-url "$REDIS_URL" --max-connections-per-ip 0 $GATEWAY_ARGS $extra >"$logf" 2>&1 &
    SERVER_URL=ws://127.0.0.1:$port/v1/ws
  else
    (cd "$WORK/node" && REDIS_URL=$REDIS_URL PORT=$port exec node server.js) >"$logf" 2>&1 &
    SERVER_URL=ws://127.0.0.1:$port/
  fi
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 1 150); do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$logf" >&2; echo "$kind exited" >&2; exit 1; }
    if [[ "$source" == stream || "$(numsub)" == 1 ]] && { [[ "$kind" != gateway ]] || \
        [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" == 200 ]]; }; then
      return 0
    fi
    sleep 0.1
  done
  cat "$logf" >&2; echo "$kind did not become ready" >&2; exit 1
}

# run_one SCENARIO REP KIND [--server-args "..."] -- rtn-bench args...   (a SCENARIO ending in
# -stream uses the stream source)
run_one() {
  local scen=$1 rep=$2 kind=$3 extra="" source=pubsub label port busy hello=()
  shift 3
  if [[ $1 == --server-args ]]; then extra=$2; shift 2; fi
  shift # --
  label=$kind
  [[ $kind == node-b ]] && kind=node
  [[ "$scen" == *-stream ]] && source=stream
  port=$("$REPORT_BIN" port)
  local tag="$scen-$label-$rep"
  busy=$("$REPORT_BIN" busy)
  (( busy > 25 )) && log "warning: CPUs already ${busy}% busy before $tag"
  [[ $kind == node ]] && extra=""
  start_server "$kind" "$port" "$OUT/$tag.server.log" "$source" "$extra"
  sleep 0.5 # let the runtime settle before the "before" RSS sample
  [[ "$kind" == gateway ]] && hello=(--expect-hello)
  if ! "$BENCH_BIN" --url "$SERVER_URL" --redis-url "$REDIS_URL" --channel "$CHANNEL" \
      --source "$source" --stream-key "$STREAM_KEY" --machine-busy "$busy" \
      --server-pid "$SERVER_PID" --label "$label" --json-out "$OUT/$tag.json" "${hello[@]}" "$@" \
      >"$OUT/$tag.txt" 2>"$OUT/$tag.err"; then
    cat "$OUT/$tag.txt" "$OUT/$tag.err" >&2; log "bench failed: $tag"
  fi
  printf '  %-18s rep %s %s\n' "$scen" "$rep" "$(tail -n 1 "$OUT/$tag.err")" >&2
  stop_pid "$SERVER_PID"
  for _ in $(seq 1 50); do [[ "$(numsub)" == 0 ]] && break; sleep 0.1; done
}

CAND=$CANDIDATE
[[ $CANDIDATE == node ]] && CAND=node-b
# Both, candidate first, for REPS repetitions: run_both SCENARIO [--server-args ".."] -- args...
run_both() {
  local scen=$1 rep; shift
  for rep in $(seq 1 "$REPS"); do
    run_one "$scen" "$rep" "$CAND" "$@"
    run_one "$scen" "$rep" node "$@"
  done
}

# The gateway's per-client queue (default 1024 events) closes clients that fall further behind
# than that with 4000 "lagged"; a burst of TP_EVENTS published in a few ms is exactly that. Give it
# room so the throughput scenarios measure fan-out, not the slow-client policy (Node buffers
# without bound).
TP_QUEUE=$(( TP_EVENTS > 1024 ? TP_EVENTS + 64 : 1024 ))
# A reconnect storm: every client at once (the kernel's listen backlog is what this measures).
STORM=(--connect-concurrency 100000)

for scen in $SCENARIOS; do
  case "$scen" in
    connect)
      log "scenario connect: $CONNECT clients at once, $REPS reps"
      run_both connect -- --clients "$CONNECT" --events 0 --settle 0 --timeout 5 "${STORM[@]}" ;;
    throughput)
      log "scenario throughput: $TP_CLIENTS clients, $TP_EVENTS events at once (pub/sub), $REPS reps"
      run_both throughput --server-args "--client-queue $TP_QUEUE" -- \
        --clients "$TP_CLIENTS" --events "$TP_EVENTS" --rate 0 --timeout 120 ;;
    throughput-stream)
      [[ $CAND == gateway ]] || { log "throughput-stream skipped: the Node peer has no stream source"; continue; }
      log "scenario throughput-stream: $TP_CLIENTS clients, $TP_EVENTS events XADDed at once, $REPS reps"
      for rep in $(seq 1 "$REPS"); do
        run_one throughput-stream "$rep" gateway --server-args "--client-queue $TP_QUEUE" -- \
          --clients "$TP_CLIENTS" --events "$TP_EVENTS" --rate 0 --timeout 120
      done ;;
    latency)
      log "scenario latency: $LAT_CLIENTS clients, $LAT_RATE events/s for ${LAT_SECS}s, $REPS reps"
      run_both latency -- --clients "$LAT_CLIENTS" --events $(( LAT_RATE * LAT_SECS )) --rate "$LAT_RATE" \
        --timeout $(( LAT_SECS + 20 )) ;;
    trickle)
      log "scenario trickle: $TR_CLIENTS clients, $TR_RATE events/s for ${TR_SECS}s, $REPS reps"
      run_both trickle -- --clients "$TR_CLIENTS" --events $(( TR_RATE * TR_SECS )) --rate "$TR_RATE" \
        --timeout $(( TR_SECS + 20 )) ;;
    idle)
      log "scenario idle: $IDLE connections at once, then 5 events to each, $REPS reps"
      run_both idle -- --clients "$IDLE" --events 5 --rate 5 --settle 3 --timeout 60 \
        --connect-timeout 120 "${STORM[@]}" ;;
    sweep)
      log "scenario sweep: $SW_CLIENTS clients at $SW_RATES events/s, ${SW_SECS}s each, $REPS reps"
      for rate in $SW_RATES; do
        run_both "sweep@$rate" -- --clients "$SW_CLIENTS" --events $(( rate * SW_SECS )) --rate "$rate" \
          --timeout $(( SW_SECS + 10 ))
      done ;;
    backfill)
      [[ $CAND == gateway ]] || { log "backfill skipped: the Node peer has no stream source"; continue; }
      log "scenario backfill: $BF_CLIENTS clients resume from the start of a $BF_ENTRIES-entry stream" \
          "and never read; peak RSS over ${BF_HOLD}s (gateway only)"
      run_one backfill-stream 1 gateway -- --clients "$BF_CLIENTS" --events 0 --prefill "$BF_ENTRIES" \
        --since 0-0 --no-read --hold "$BF_HOLD" --settle 1 --timeout 10 ;;
    *) echo "unknown scenario $scen" >&2; exit 2 ;;
  esac
done

"$REPORT_BIN" summary "$OUT" "$CAND" | tee "$OUT/summary.txt"
