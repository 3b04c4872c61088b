#!/usr/bin/env bash
# RealTimeNotify benchmark: the gateway against the seed design's Node.js server (ws + ioredis),
# same machine, same Redis, one server at a time, restarted before every measurement.
#
#   bench/run.sh                 # full run (~8-10 min): throughput (pub/sub and stream), latency,
#                                # idle memory; 3/3/3/2 reps
#   bench/run.sh --quick         # smoke run (~1 min), 1 rep, small sizes
#   bench/run.sh --scenarios "latency idle" --reps 5
#   bench/run.sh --candidate node    # no gateway yet: compare two node peer instances
#
# Scenarios: throughput (burst through Redis pub/sub), throughput-stream (the same burst XADDed to
# the Redis Stream of `--source redis-stream`; gateway only: the node peer has no stream source),
# latency (fixed rate), idle (memory per connection), backfill (gateway only: resuming clients
# that never read, over a prefilled stream: the gateway's RSS growth, peak). The report ends with
# a markdown summary.
#
# Options:
#   --quick                small sizes, one repetition
#   --reps N               repetitions of every scenario (default: throughput 3, latency 3, idle 2)
#   --scenarios "A B"      subset of: throughput throughput-stream latency idle backfill
#   --candidate gateway|node   the server compared with the node peer (default gateway)
#   --gateway-args "..."   extra `realtimenotify serve` arguments for every scenario
#   --no-build             use the existing target/release binaries
#   --out DIR              where to keep logs and JSON results (default target/rtn-bench/<time>)
#
# Environment knobs: THROUGHPUT_CLIENTS/EVENTS, LATENCY_CLIENTS/RATE/SECS, IDLE_CLIENTS,
# BACKFILL_CLIENTS/ENTRIES/HOLD,
# NODE_PEER_DIR (default /work/shared/peers/node-seed).
#
# Everything started here (redis-server, the servers) is killed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODE_PEER_DIR=${NODE_PEER_DIR:-/work/shared/peers/node-seed}
CHANNEL=mediawiki:notifications
STREAM_KEY=mediawiki:events

QUICK=0
REPS=""
SCENARIOS="throughput throughput-stream latency idle backfill"
CANDIDATE=gateway
GATEWAY_ARGS=""
BUILD=1
OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --reps) REPS=$2; shift ;;
    --scenarios) SCENARIOS=$2; shift ;;
    --candidate) CANDIDATE=$2; shift ;;
    --gateway-args) GATEWAY_ARGS=$2; shift ;;
    --no-build) BUILD=0 ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
case "$CANDIDATE" in gateway|node) ;; *) echo "--candidate must be gateway or node" >&2; exit 2 ;; esac

OUT=${OUT:-$ROOT/target/rtn-bench/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/rtn-bench.XXXXXX)
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]:-}"; do
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]:-}"; do
    [[ -n "$pid" ]] && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[run.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Stops one process we started (by pid) and forgets it.
stop_pid() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local keep=() p
  for p in "${PIDS[@]}"; do [[ "$p" != "$pid" ]] && keep+=("$p"); done
  PIDS=("${keep[@]:-}")
}

# --- limits -------------------------------------------------------------------------------
HARD_NOFILE=$(ulimit -Hn)
[[ "$HARD_NOFILE" == unlimited ]] && HARD_NOFILE=1048576
ulimit -n "$HARD_NOFILE" 2>/dev/null || true
# Try to go above the hard limit (needs CAP_SYS_RESOURCE); fall back silently.
if (( HARD_NOFILE < 25000 )) && ulimit -Hn 25000 2>/dev/null; then
  ulimit -n 25000; HARD_NOFILE=25000
fi
NOFILE=$(ulimit -n)

# --- sizes --------------------------------------------------------------------------------
if (( QUICK )); then
  TP_CLIENTS=${THROUGHPUT_CLIENTS:-200}; TP_EVENTS=${THROUGHPUT_EVENTS:-300}
  LAT_CLIENTS=${LATENCY_CLIENTS:-50}; LAT_RATE=${LATENCY_RATE:-200}; LAT_SECS=${LATENCY_SECS:-2}
  IDLE_WANT=${IDLE_CLIENTS:-2000}
  BF_CLIENTS=${BACKFILL_CLIENTS:-50}; BF_ENTRIES=${BACKFILL_ENTRIES:-10000}; BF_HOLD=${BACKFILL_HOLD:-10}
  REPS_TP=${REPS:-1}; REPS_LAT=${REPS:-1}; REPS_IDLE=${REPS:-1}; REPS_BF=${REPS:-1}
else
  TP_CLIENTS=${THROUGHPUT_CLIENTS:-1000}; TP_EVENTS=${THROUGHPUT_EVENTS:-2000}
  LAT_CLIENTS=${LATENCY_CLIENTS:-100}; LAT_RATE=${LATENCY_RATE:-200}; LAT_SECS=${LATENCY_SECS:-10}
  IDLE_WANT=${IDLE_CLIENTS:-20000}
  BF_CLIENTS=${BACKFILL_CLIENTS:-200}; BF_ENTRIES=${BACKFILL_ENTRIES:-50000}; BF_HOLD=${BACKFILL_HOLD:-40}
  REPS_TP=${REPS:-3}; REPS_LAT=${REPS:-3}; REPS_IDLE=${REPS:-2}; REPS_BF=${REPS:-1}
fi
# Both the server and rtn-bench hold one fd per connection plus a few of their own.
IDLE_CLIENTS=$IDLE_WANT
if (( IDLE_CLIENTS > NOFILE - 500 )); then
  IDLE_CLIENTS=$(( (NOFILE - 500) / 1000 * 1000 ))
  log "RLIMIT_NOFILE is $NOFILE (hard limit; raising it needs CAP_SYS_RESOURCE):" \
      "idle scenario uses $IDLE_CLIENTS connections instead of $IDLE_WANT"
fi

# --- build --------------------------------------------------------------------------------
GATEWAY_BIN=$ROOT/target/release/realtimenotify
BENCH_BIN=$ROOT/target/release/rtn-bench
if (( BUILD )); then
  log "building release binaries"
  if [[ "$CANDIDATE" == gateway ]]; then
    (cd "$ROOT" && cargo build --release -p realtimenotify -p rtn-bench)
  else
    (cd "$ROOT" && cargo build --release -p rtn-bench)
  fi
fi
[[ -x "$BENCH_BIN" ]] || { echo "missing $BENCH_BIN" >&2; exit 1; }
if [[ "$CANDIDATE" == gateway && ! -x "$GATEWAY_BIN" ]]; then
  echo "missing $GATEWAY_BIN (use --candidate node to compare two node peers)" >&2; exit 1
fi

log "preparing the node peer (npm ci)"
cp -r "$NODE_PEER_DIR" "$WORK/node"
chmod -R u+w "$WORK/node"
(cd "$WORK/node" && npm ci --no-audit --no-fund --loglevel=error >"$OUT/npm-ci.log" 2>&1) \
  || { cat "$OUT/npm-ci.log" >&2; exit 1; }

# --- redis --------------------------------------------------------------------------------
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --daemonize no --logfile "$OUT/redis.log" &
PIDS+=($!)
for _ in $(seq 1 50); do
  [[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]] && break; sleep 0.1
done
[[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]] || { echo "redis-server did not start" >&2; exit 1; }
REDIS_URL=redis://127.0.0.1:$REDIS_PORT
log "redis-server on $REDIS_PORT; outputs in $OUT"

numsub() { redis-cli -p "$REDIS_PORT" pubsub numsub "$CHANNEL" 2>/dev/null | tail -n 1; }

# start_server KIND PORT LOG SOURCE -> sets SERVER_PID, SERVER_URL; waits until it is ready and
# subscribed (SOURCE pubsub) or following the stream (SOURCE stream, gateway only)
start_server() {
  local kind=$1 port=$2 logf=$3 source=$4 i
  [[ "$(numsub)" == 0 ]] || { echo "another subscriber is still on $CHANNEL" >&2; exit 1; }
  local gw_source=(--source redis)
  if [[ "$source" == stream ]]; then
    # Start from an empty stream: a previous run's entries would be loaded into the replay window.
    redis-cli -p "$REDIS_PORT" del "$STREAM_KEY" >/dev/null
    gw_source=(--source redis-stream --stream-key "$STREAM_KEY")
  fi
  case "$kind" in
    gateway)
      # shellcheck disable=SC2086
      RTN_LOG=${RTN_LOG:-warn} "$GATEWAY_BIN" serve --listen "127.0.0.1:$port" "${gw_source[@]}" \
        --redis-url "$REDIS_URL" --max-connections-per-ip 0 $GATEWAY_ARGS $EXTRA_ARGS >"$logf" 2>&1 &
      SERVER_PID=$!
      SERVER_URL=ws://127.0.0.1:$port/v1/ws
      ;;
    node)
      (cd "$WORK/node" && REDIS_URL=$REDIS_URL PORT=$port exec node server.js) >"$logf" 2>&1 &
      SERVER_PID=$!
      SERVER_URL=ws://127.0.0.1:$port/
      ;;
  esac
  PIDS+=("$SERVER_PID")
  for i in $(seq 1 150); do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$logf" >&2; echo "$kind exited" >&2; exit 1; }
    if [[ "$source" == stream || "$(numsub)" == 1 ]]; then
      if [[ "$kind" != gateway ]] || \
         [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" == 200 ]]; then
        return 0
      fi
    fi
    sleep 0.1
  done
  cat "$logf" >&2; echo "$kind did not become ready" >&2; exit 1
}

# Percent of all CPUs busy over half a second (before a run, when none of our servers runs).
# Other tenants' load (builds, fuzzers) skews every number on a 2-core machine: recorded per run.
cpu_busy() {
  python3 - <<'PY'
import time
def snap():
    f = open("/proc/stat").readline().split()[1:]
    v = list(map(int, f)); idle = v[3] + v[4]
    return sum(v), idle
t1, i1 = snap(); time.sleep(0.5); t2, i2 = snap()
print(round(100 * (1 - (i2 - i1) / max(1, t2 - t1))))
PY
}

# run_one SCENARIO REP KIND LABEL -- bench args...   (a SCENARIO ending in -stream uses the stream)
run_one() {
  local scen=$1 rep=$2 kind=$3 label=$4; shift 5
  local source=pubsub
  [[ "$scen" == *-stream ]] && source=stream
  local port; port=$(free_port)
  local tag="$scen-$label-$rep"
  local busy; busy=$(cpu_busy)
  echo "$tag $busy" >>"$OUT/cpu-busy.txt"
  (( busy > 25 )) && log "warning: CPUs already ${busy}% busy before $tag (other processes: $(ps -eo pcpu,comm --sort=-pcpu | sed -n 2,3p | tr -s ' ' | tr '\n' ';'))"
  start_server "$kind" "$port" "$OUT/$tag.server.log" "$source"
  sleep 0.5  # let the runtime settle before the "before" RSS sample
  local hello=()
  [[ "$kind" == gateway ]] && hello=(--expect-hello)
  if ! "$BENCH_BIN" --url "$SERVER_URL" --redis-url "$REDIS_URL" --channel "$CHANNEL" \
      --source "$source" --stream-key "$STREAM_KEY" \
      --server-pid "$SERVER_PID" --label "$label" --json-out "$OUT/$tag.json" "${hello[@]}" "$@" \
      >"$OUT/$tag.txt" 2>&1; then
    cat "$OUT/$tag.txt" >&2; log "bench failed: $tag"
  fi
  python3 - "$OUT/$tag.json" "$scen" "$rep" <<'PY' >&2 || true
import json, sys
r = json.load(open(sys.argv[1])); s, rep = sys.argv[2], sys.argv[3]
lat = r["latency_ms"]; rss = r["server_rss_per_conn_bytes"]
f = lambda v, p=2: "-" if v is None else f"{v:.{p}f}"
print(f"  {s:<17} rep {rep} {r['label']:<8} clients {r['clients_ready']}/{r['clients']} "
      f"delivered {r['delivered']}/{r['expected']} lost {r['lost']} ended {sum(r['ended_early'].values())} "
      f"| {r['deliveries_per_sec']:.0f} dlv/s | p50 {f(lat['p50'])} p99 {f(lat['p99'])} p999 {f(lat['p999'])} ms "
      f"| rss/conn {f(rss, 0)} B | cpu {f(r['server_cpu_secs']['deliver'])} s")
PY
  stop_pid "$SERVER_PID"
  for _ in $(seq 1 50); do [[ "$(numsub)" == 0 ]] && break; sleep 0.1; done
}

if [[ "$CANDIDATE" == gateway ]]; then
  CAND_KIND=gateway; CAND_LABEL=gateway
else
  CAND_KIND=node; CAND_LABEL=node-b
fi
EXTRA_ARGS=""

# The gateway's per-client queue (default 1024 events) closes clients that fall further behind
# than that with 4000 "lagged"; a burst of $TP_EVENTS events published in a few ms is exactly
# that. Give it room (2064 for the full run's 2000) so the throughput scenarios measure fan-out
# throughput, not the slow-client policy (node buffers without bound). Every gateway run also
# gets --max-connections-per-ip 0 (start_server): all clients come from 127.0.0.x.
TP_QUEUE=$(( TP_EVENTS > 1024 ? TP_EVENTS + 64 : 1024 ))

for scen in $SCENARIOS; do
  case "$scen" in
    throughput)
      log "scenario throughput: $TP_CLIENTS clients, $TP_EVENTS events as fast as possible (pub/sub), $REPS_TP reps"
      for rep in $(seq 1 "$REPS_TP"); do
        EXTRA_ARGS="--client-queue $TP_QUEUE"
        run_one throughput "$rep" "$CAND_KIND" "$CAND_LABEL" -- \
          --clients "$TP_CLIENTS" --events "$TP_EVENTS" --rate 0 --timeout 120
        EXTRA_ARGS=""
        run_one throughput "$rep" node node -- \
          --clients "$TP_CLIENTS" --events "$TP_EVENTS" --rate 0 --timeout 120
      done
      ;;
    throughput-stream)
      if [[ "$CAND_KIND" != gateway ]]; then
        log "scenario throughput-stream skipped: the node peer has no Redis Streams source"
        continue
      fi
      log "scenario throughput-stream: $TP_CLIENTS clients, $TP_EVENTS events XADDed to $STREAM_KEY" \
          "as fast as possible, $REPS_TP reps (gateway only: the node peer has no stream source)"
      for rep in $(seq 1 "$REPS_TP"); do
        EXTRA_ARGS="--client-queue $TP_QUEUE"
        run_one throughput-stream "$rep" gateway "$CAND_LABEL" -- \
          --clients "$TP_CLIENTS" --events "$TP_EVENTS" --rate 0 --timeout 120
        EXTRA_ARGS=""
      done
      ;;
    latency)
      ev=$(( LAT_RATE * LAT_SECS ))
      log "scenario latency: $LAT_CLIENTS clients, $ev events at $LAT_RATE/s, $REPS_LAT reps"
      for rep in $(seq 1 "$REPS_LAT"); do
        run_one latency "$rep" "$CAND_KIND" "$CAND_LABEL" -- \
          --clients "$LAT_CLIENTS" --events "$ev" --rate "$LAT_RATE" --timeout $(( LAT_SECS + 20 ))
        run_one latency "$rep" node node -- \
          --clients "$LAT_CLIENTS" --events "$ev" --rate "$LAT_RATE" --timeout $(( LAT_SECS + 20 ))
      done
      ;;
    idle)
      log "scenario idle: $IDLE_CLIENTS idle connections (then 5 events to check delivery), $REPS_IDLE reps"
      for rep in $(seq 1 "$REPS_IDLE"); do
        run_one idle "$rep" "$CAND_KIND" "$CAND_LABEL" -- \
          --clients "$IDLE_CLIENTS" --events 5 --rate 5 --settle 3 --timeout 60 --connect-timeout 120
        run_one idle "$rep" node node -- \
          --clients "$IDLE_CLIENTS" --events 5 --rate 5 --settle 3 --timeout 60 --connect-timeout 120
      done
      ;;
    backfill)
      if [[ "$CAND_KIND" != gateway ]]; then
        log "scenario backfill skipped: the node peer has no Redis Streams source"
        continue
      fi
      # Issue 10 item 3: resuming clients must not make the gateway copy the stream into memory.
      log "scenario backfill: $BF_CLIENTS clients resume from the start of a $BF_ENTRIES-entry stream" \
          "and never read; peak RSS over ${BF_HOLD}s, $REPS_BF reps (gateway only)"
      for rep in $(seq 1 "$REPS_BF"); do
        run_one backfill-stream "$rep" gateway "$CAND_LABEL" -- \
          --clients "$BF_CLIENTS" --events 0 --prefill "$BF_ENTRIES" --since 0-0 --no-read \
          --hold "$BF_HOLD" --settle 1 --timeout 10
      done
      ;;
    *) echo "unknown scenario $scen" >&2; exit 2 ;;
  esac
done

# --- report -------------------------------------------------------------------------------
python3 - "$OUT" "$CAND_LABEL" "$QUICK" <<'PY' | tee "$OUT/summary.txt"
import glob, json, os, statistics, sys, time
out, cand, quick = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
runs = {}
for p in sorted(glob.glob(os.path.join(out, "*.json"))):
    r = json.load(open(p))
    # <scenario>-<label>-<rep>.json; scenario and label may contain "-".
    base = os.path.basename(p)[: -len(".json")].rsplit("-", 1)[0]
    scen = base[: -len(r["label"]) - 1]
    runs.setdefault((scen, r["label"]), []).append(r)

def med(scen, label, fn):
    vals = [fn(r) for r in runs.get((scen, label), [])]
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None

def total(scen, label, fn):
    vals = [fn(r) for r in runs.get((scen, label), [])]
    return sum(v for v in vals if v is not None) if vals else None

lat = lambda p: lambda r: r["latency_ms"][p]
rows = [
    # scenario, metric, fn, better ("hi"/"lo"), aggregate, fmt
    ("throughput", "deliveries/s (higher is better)", lambda r: r["deliveries_per_sec"], "hi", med, "{:,.0f}"),
    ("throughput", "server CPU us/delivery", lambda r: r["server_cpu_us_per_delivery"], "lo", med, "{:.2f}"),
    ("throughput", "time to deliver all (s)", lambda r: r["delivery_span_secs"], "lo", med, "{:.2f}"),
    ("throughput", "latency p50 under burst (ms)", lat("p50"), "lo", med, "{:.1f}"),
    ("throughput", "latency p99 under burst (ms)", lat("p99"), "lo", med, "{:.1f}"),
    ("throughput", "latency p999 under burst (ms)", lat("p999"), "lo", med, "{:.1f}"),
    ("throughput", "delivered (sum of reps)", lambda r: r["delivered"], "hi", total, "{:,}"),
    ("throughput", "lost (sum of reps)", lambda r: r["lost"], "lo", total, "{:,}"),
    ("throughput", "dup+out-of-order (sum)", lambda r: r["duplicates"] + r["out_of_order"], "lo", total, "{:,}"),
    ("latency", "p50 (ms)", lat("p50"), "lo", med, "{:.2f}"),
    ("latency", "p99 (ms)", lat("p99"), "lo", med, "{:.2f}"),
    ("latency", "p999 (ms)", lat("p999"), "lo", med, "{:.2f}"),
    ("latency", "max (ms)", lat("max"), "lo", med, "{:.2f}"),
    ("latency", "server CPU us/delivery", lambda r: r["server_cpu_us_per_delivery"], "lo", med, "{:.2f}"),
    ("latency", "lost (sum of reps)", lambda r: r["lost"], "lo", total, "{:,}"),
    ("idle", "connections", lambda r: r["clients_ready"], "hi", med, "{:,.0f}"),
    ("idle", "RSS per connection (KiB)", lambda r: r["server_rss_per_conn_bytes"] and r["server_rss_per_conn_bytes"] / 1024, "lo", med, "{:.2f}"),
    ("idle", "RSS before (MiB)", lambda r: r["server_rss_kib"]["before"] and r["server_rss_kib"]["before"] / 1024, "lo", med, "{:.1f}"),
    ("idle", "RSS idle, all connected (MiB)", lambda r: r["server_rss_kib"]["idle"] and r["server_rss_kib"]["idle"] / 1024, "lo", med, "{:.1f}"),
    ("idle", "RSS after 5 events (MiB)", lambda r: r["server_rss_kib"]["after"] and r["server_rss_kib"]["after"] / 1024, "lo", med, "{:.1f}"),
    ("idle", "connect time (s)", lambda r: r["connect_secs"], "lo", med, "{:.2f}"),
    ("idle", "server CPU to accept all (s)", lambda r: r["server_cpu_secs"]["connect"], "lo", med, "{:.2f}"),
    ("idle", "lost (sum of reps)", lambda r: r["lost"], "lo", total, "{:,}"),
    ("backfill-stream", "RSS growth, peak (MiB)", lambda r: r["server_rss_kib"].get("peak") and r["server_rss_kib"]["before"] and (r["server_rss_kib"]["peak"] - r["server_rss_kib"]["before"]) / 1024, "lo", med, "{:.1f}"),
    ("backfill-stream", "RSS before (MiB)", lambda r: r["server_rss_kib"]["before"] and r["server_rss_kib"]["before"] / 1024, "lo", med, "{:.1f}"),
    ("backfill-stream", "clients connected", lambda r: r["clients_ready"], "hi", med, "{:,.0f}"),
]
# The gateway's stream source, shown beside its pub/sub numbers (the node peer has no stream).
STREAM = {"throughput": "throughput-stream"}
has_stream = any(runs.get((STREAM[s], cand)) for s in STREAM)

def fmtv(v, fmt):
    return "-" if v is None else fmt.format(v)

def ratio(a, b):
    return f"{a / b:.2f}x" if a is not None and b is not None and a != 0 and b != 0 else ""

nreps = {s: len(runs.get((s, cand), [])) for s in ("throughput", "throughput-stream", "latency", "idle", "backfill-stream")}
print()
print(f"RealTimeNotify bench — {cand} vs node peer (medians; reps: " +
      ", ".join(f"{s} {n}" for s, n in nreps.items() if n) + ")" + ("  [--quick: smoke sizes]" if quick else ""))
hdr = f"{'scenario':<11} {'metric':<31} {cand:>12} {'node':>12} {'ratio':>7} {'':<6}"
if has_stream:
    hdr += f" | {cand + ' stream':>15} {'stream/pubsub':>13}"
print(hdr); print("-" * len(hdr))
for scen, name, fn, better, agg, fmt in rows:
    if not runs.get((scen, cand)) and not runs.get((scen, "node")):
        continue
    a, b = agg(scen, cand, fn), agg(scen, "node", fn)
    rt, note = "", ""
    if agg is med and name != "connections":
        rt = ratio(a, b)
        if rt:
            note = "better" if (a > b if better == "hi" else a < b) else "worse"
    line = f"{scen:<11} {name:<31} {fmtv(a, fmt):>12} {fmtv(b, fmt):>12} {rt:>7} {note:<6}"
    if has_stream and scen in STREAM:
        s = agg(STREAM[scen], cand, fn)
        line += f" | {fmtv(s, fmt):>15} {ratio(s, a) if agg is med else '':>13}"
    print(line.rstrip())
if has_stream:
    print(f"throughput: {cand}/node/ratio columns use Redis pub/sub; the stream columns are the same burst"
          f" XADDed to a Redis Stream\n  (`--source redis-stream`), {cand} only: the node peer has no stream source."
          f" stream/pubsub = {cand} stream / {cand} pub/sub.")
ended = {}
for (scen, label), rs in runs.items():
    for r in rs:
        for k, v in r["ended_early"].items():
            ended[(scen, label, k)] = ended.get((scen, label, k), 0) + v
        for k, v in r["connect_errors"].items():
            ended[(scen, label, "connect: " + k)] = ended.get((scen, label, "connect: " + k), 0) + v
if ended:
    print("\nconnections ended early / failed:")
    for (scen, label, k), v in sorted(ended.items()):
        print(f"  {scen} {label}: {k} x{v}")
busy = []
try:
    busy = [(l.split()[0], int(l.split()[1])) for l in open(os.path.join(out, "cpu-busy.txt"))]
except OSError:
    pass
noisy = [f"{t} ({b}%)" for t, b in busy if b > 25]
if noisy:
    print(f"\nWARNING: the machine was busy before {len(noisy)} of {len(busy)} runs: " + ", ".join(noisy))
print(f"\nratio = {cand} / node.  Raw results: {out}")

# --- markdown summary, to paste into README -------------------------------------------------
def first(scen):
    rs = runs.get((scen, cand)) or runs.get((scen, "node")) or [{}]
    return rs[0]

def ms(v):
    return "–" if v is None else f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"

def cells(scen, label, fns, f):
    vals = [med(scen, label, fn) for fn in fns]
    return vals, " / ".join(f(v) for v in vals)

def lost_cell(scen, label):
    lost, exp = total(scen, label, lambda r: r["lost"]), total(scen, label, lambda r: r["expected"])
    return "–" if lost is None else f"{lost:,} of {exp:,}"

PCT = [lat("p50"), lat("p99"), lat("p999")]
dps = lambda r: r["deliveries_per_sec"]
num = lambda v: "–" if v is None else f"{v:,.0f}"
md = []
def mdrow(scen_cell, metric, g, n, rt):
    md.append(f"| {scen_cell} | {metric} | {g} | {n} | {rt} |")

def throughput_rows(scen, title, peer):
    if not runs.get((scen, cand)):
        return
    g, gs = cells(scen, cand, [dps], num)
    n, ns = cells(scen, "node", [dps], num) if peer else ([None], "n/a: no stream source")
    mdrow(title, "deliveries/s (higher is better)", gs, ns, ratio(g[0], n[0]) or "–")
    g, gs = cells(scen, cand, PCT, ms)
    n, ns = cells(scen, "node", PCT, ms) if peer else ([None] * 3, "n/a")
    rt = " / ".join(ratio(a, b) for a, b in zip(g, n)) if peer and all(n) else "–"
    mdrow("", "latency p50 / p99 / p999 under burst (ms, lower is better)", gs, ns, rt)
    mdrow("", "lost (all reps)", lost_cell(scen, cand), lost_cell(scen, "node") if peer else "n/a", "")

t = first("throughput") or first("throughput-stream")
tsize = f"{t.get('clients', 0):,} clients, burst of {t.get('events_planned', 0):,} events" if t else ""
throughput_rows("throughput", f"throughput, Redis pub/sub ({tsize})", True)
throughput_rows("throughput-stream", f"throughput, Redis Stream ({tsize})", False)
if runs.get(("latency", cand)):
    l = first("latency")
    g, gs = cells("latency", cand, PCT, ms)
    n, ns = cells("latency", "node", PCT, ms)
    rt = " / ".join(ratio(a, b) for a, b in zip(g, n)) if all(n) else "–"
    mdrow(f"latency ({l['clients']:,} clients, {l['rate']:.0f} events/s)", "p50 / p99 / p999 (ms, lower is better)", gs, ns, rt)
    mdrow("", "lost (all reps)", lost_cell("latency", cand), lost_cell("latency", "node"), "")
if runs.get(("idle", cand)):
    kib = lambda r: r["server_rss_per_conn_bytes"] and r["server_rss_per_conn_bytes"] / 1024
    g, n = med("idle", cand, kib), med("idle", "node", kib)
    conns = med("idle", cand, lambda r: r["clients_ready"])
    mdrow(f"idle ({num(conns)} connections)", "server RSS per connection (KiB, lower is better)",
          fmtv(g, "{:.2f}"), fmtv(n, "{:.2f}"), ratio(g, n) or "–")
if runs.get(("backfill-stream", cand)):
    b = first("backfill-stream")
    grow = med("backfill-stream", cand, rows[-3][2])
    mdrow(f"backfill ({b['clients']:,} resuming clients that never read, {b['prefill']:,}-entry stream)",
          "server RSS growth, peak (MiB, lower is better)", fmtv(grow, "{:.1f}"), "n/a: no stream source", "target < 100")
if md:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    reps = ", ".join(f"{s} {n}" for s, n in nreps.items() if n)
    print("\n--- summary (markdown) ---")
    if quick:
        print("<!-- --quick run: smoke sizes, not for publication -->")
    if noisy:
        print(f"<!-- WARNING: the machine was busy before {len(noisy)} of {len(busy)} runs -->")
    print(f"`bench/run.sh` on {time.strftime('%Y-%m-%d')}: {cand} vs the seed design's Node.js server"
          f" (`ws` + `ioredis`), one at a time, same Redis, loopback, {os.cpu_count()} CPUs ({cpu});"
          f" medians (runs per server: {reps}). Ratio = {cand} / Node peer.")
    print()
    print(f"| scenario | metric | {cand} | Node peer | ratio |")
    print("|---|---|--:|--:|--:|")
    print("\n".join(md))
    if has_stream:
        print("\nThe Node peer subscribes to pub/sub only; it has no Redis Streams source.")
PY
