#!/usr/bin/env bash
# What each process spends per request: sends at a fixed rate, newest history
# pages at a fixed rate, logins and sign-ups under a burst of 50 in flight,
# against a fresh local platform (release build, `harmony dev`: API, relay,
# cdc, sink and gateway in one process) on its own services and ports. For
# every scenario: throughput, latency percentiles and the CPU time per
# successful request of harmony and of each local service (from /proc).
#   bench/cost.sh [SECONDS]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cargo-env.sh
SECONDS_=${1:-10}
export HARMONY_DATA_DIR=${BENCH_DATA_DIR:-/var/lib/harmony-cost-bench}
export HARMONY_PG_PORT=27432 HARMONY_REDIS_PORT=27379 HARMONY_KAFKA_PORT=27092 HARMONY_DYNAMODB_PORT=27000
URL=http://127.0.0.1:27100
source bench/lib.sh
trap 'kill ${PLATFORM:-} 2>/dev/null || true; scripts/services.sh stop >/dev/null 2>&1 || true' EXIT
fresh_services
cargo build -q --release -p harmony -p harmony-bench --bin harmony --bin harmony-bench
BIN=$CARGO_TARGET_DIR/release
HTTP__BIND=${URL#http://} HTTP__PUBLIC_URL=$URL APP__LOG_FILTER=warn "$BIN/harmony" dev >"$HARMONY_DATA_DIR/platform.log" 2>&1 &
PLATFORM=$!
wait_ready "$URL" "$HARMONY_DATA_DIR/platform.log"
CPU=(--cpu "harmony=$PLATFORM"
  --cpu "postgres=$(head -1 "$HARMONY_DATA_DIR/postgres/data/postmaster.pid")"
  --cpu "redis=$(cat "$HARMONY_DATA_DIR/redis/redis.pid")"
  --cpu "broker=$(cat "$HARMONY_DATA_DIR/kafka/kafka.pid")"
  --cpu "dynamodb=$(cat "$HARMONY_DATA_DIR/dynamodb/dynamodb.pid")")
run() {
  echo "== harmony-bench $*"
  "$BIN/harmony-bench" "$@" --url "$URL" --duration "$SECONDS_" "${CPU[@]}"
}
run send --rate 1000
run history --rate 1000 --chats 4
run login --concurrency 50 --chats 50
run sign-up --concurrency 50 --chats 4
