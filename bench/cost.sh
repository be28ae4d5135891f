#!/usr/bin/env bash
# The standard benchmark set, against a fresh local platform (release build;
# api, sink, relay, cdc and gateway each its own process, as in a cluster) on
# its own services and ports: sends at a fixed rate and at saturation, newest
# and deep history pages, logins and sign-ups under a burst of 50 in flight,
# the original's stress mix with 20 workers, membership churn, send ->
# visible in history, newest pages whose messages carry 5 reactions each,
# then through the gateway: 10,000 idle WebSockets, fan-out, send -> live
# delivery at 1,000 msg/s and edit or reaction -> live delivery at 500/s. For every scenario:
# throughput, latency percentiles and the CPU time per successful request of
# each Harmony process and each local service (from /proc). The results
# table goes to bench/results/<date>-<commit>.md (machine, command and
# commit at its head). With PROFILE=1 the api process is sampled with `perf`
# during the send and history runs (reports in $HARMONY_DATA_DIR/perf-*.txt, and
# perf-*-components.txt: self time by component, bench/profiles/components.py).
#   bench/cost.sh [SECONDS]   (default 10)
# ONLY="send history" runs only those scenarios (and no gateway run unless it
# names realtime); BENCH_RESULTS=FILE appends to FILE when it exists, so
# several settings compared on one machine share one table.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cargo-env.sh
claim_workspace_build
SECONDS_=${1:-10}
# Harmony settings the caller chose (before the services' own are exported), for the results' header.
settings=$(env | grep -E '^[A-Z]+__[A-Z_]+=|^TOKIO_WORKER_THREADS=' | grep -v -E 'URL|SECRET|PASSWORD|^HTTP__|^APP__' | sort | tr '\n' ' ' || true)
export HARMONY_DATA_DIR=${BENCH_DATA_DIR:-/var/lib/harmony-cost-bench}
export HARMONY_PG_PORT=27432 HARMONY_REDIS_PORT=27379 HARMONY_KAFKA_PORT=27092 HARMONY_DYNAMODB_PORT=27000
URL=http://127.0.0.1:27100
source bench/lib.sh
trap 'kill ${PIDS[*]:-} 2>/dev/null || true; scripts/services.sh stop >/dev/null 2>&1 || true' EXIT
fresh_services
cargo build -q --release -p harmony -p harmony-bench --bin harmony --bin harmony-bench --bin realtime-bench
BIN=$CARGO_TARGET_DIR/release
APP__LOG_FILTER=warn "$BIN/harmony" migrate >"$HARMONY_DATA_DIR/migrate.log" 2>&1
PIDS=()
CPU=()
port=27100
for role in api sink relay cdc gateway; do
  HTTP__BIND=127.0.0.1:$port HTTP__PUBLIC_URL=http://127.0.0.1:$port APP__LOG_FILTER=warn \
    "$BIN/harmony" "$role" >"$HARMONY_DATA_DIR/$role.log" 2>&1 &
  PIDS+=($!)
  CPU+=(--cpu "$role=$!")
  wait_ready "http://127.0.0.1:$port" "$HARMONY_DATA_DIR/$role.log"
  port=$((port + 1))
done
API_PID=${PIDS[0]}
GATEWAY_PID=${PIDS[4]}
RESULTS=${BENCH_RESULTS:-bench/results/$(date -u +%Y-%m-%dT%H%M)-$(git rev-parse --short HEAD).md}
mkdir -p "$(dirname "$RESULTS")"
table_head() {
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)');" \
    "$(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(free -g | awk '/Mem:/ {print $2}') GiB;" \
    "load generator, platform and services on the same machine"
  echo
  echo "Settings from the environment: ${settings:-none (defaults)}"
  echo
  echo "| scenario | mode | throughput | failed | p50 | p95 | p99 | CPU per request (user + system) |"
  echo "|---|---|---|---|---|---|---|---|"
}
if [[ -s $RESULTS ]]; then
  { echo; echo "## bench/cost.sh $SECONDS_${ONLY:+ (ONLY=$ONLY)}"; echo; table_head; } >>"$RESULTS"
else
  { echo "# bench/cost.sh $SECONDS_${ONLY:+ (ONLY=$ONLY)}"; echo; table_head; } >"$RESULTS"
fi
CPU+=(--cpu "postgres=$(head -1 "$HARMONY_DATA_DIR/postgres/data/postmaster.pid")"
  --cpu "redis=$(cat "$HARMONY_DATA_DIR/redis/redis.pid")"
  --cpu "broker=$(cat "$HARMONY_DATA_DIR/kafka/kafka.pid")"
  --cpu "dynamodb=$(cat "$HARMONY_DATA_DIR/dynamodb/dynamodb.pid")")
run() {
  [[ -z ${ONLY:-} || " $ONLY " == *" $1 "* ]] || return 0
  echo "== harmony-bench $*"
  if [[ ${PROFILE:-0} == 1 && $1 != login && $1 != sign-up ]]; then
    # Sample the api process for the measured window (after the warm-up).
    (sleep 4 && perf record -F 499 -g -p "$API_PID" -o "$HARMONY_DATA_DIR/perf-$1.data" -- sleep "$SECONDS_" >/dev/null 2>&1 &&
      perf report -i "$HARMONY_DATA_DIR/perf-$1.data" --stdio --no-children --percent-limit 1.5 -g none \
        >"$HARMONY_DATA_DIR/perf-$1.txt" 2>/dev/null &&
      perf report -i "$HARMONY_DATA_DIR/perf-$1.data" --stdio --no-children --sort dso,sym -g none 2>/dev/null |
        bench/profiles/components.py >"$HARMONY_DATA_DIR/perf-$1-components.txt") &
    PERF=$!
  fi
  "$BIN/harmony-bench" "$@" --url "$URL" --duration "$SECONDS_" "${CPU[@]}" --results "$RESULTS"
  if [[ -n ${PERF:-} ]]; then wait "$PERF"; PERF=; fi
}
run send --rate 1000
run send --concurrency 64
run history --rate 1000 --chats 4
run history --rate 1000 --chats 4 --reactions 5
run deep-history --rate 1000 --chats 4
run login --concurrency 50 --chats 50
run sign-up --concurrency 50 --chats 4
# The original's stress mix with 20 workers (each its own user and chat).
run mixed --concurrency 20 --chats 20
run churn --rate 200 --chats 8
run visibility --rate 100
# Through the gateway: idle connections, fan-out, send -> live delivery.
[[ -z ${ONLY:-} || " $ONLY " == *" realtime "* ]] || { echo "results: $RESULTS"; exit 0; }
echo "== realtime-bench"
"$BIN/realtime-bench" --api "$URL" --gateway "http://127.0.0.1:27104" --gateway-pid "$GATEWAY_PID" \
  --connections "${CONNECTIONS:-10000}" --rate 1000 --seconds "$SECONDS_" --results "$RESULTS"
echo "results: $RESULTS"
