#!/usr/bin/env bash
# Soak: MESSAGES sends through a fresh local platform (half at saturation,
# half at RATE/s) with the sink, relay and cdc running; then SIGKILL of the
# broker and of the platform, a restart of both, and proof that every
# acknowledged message is in history exactly once. Prints the figures
# bench/README.md records. Uses its own data directory and ports, so the
# services of the README's commands are left alone.
#   bench/soak.sh [MESSAGES] [RATE]        (default 200000 at 1000/s; release build)
#   SOAK_BIN_DIR=DIR bench/soak.sh 6000    (the test command's small run, with
#                                           the binaries of its own build)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cargo-env.sh
claim_workspace_build
MESSAGES=${1:-200000}
RATE=${2:-1000}
export HARMONY_DATA_DIR=${SOAK_DATA_DIR:-/var/lib/harmony-soak}
# Below Linux's ephemeral range (32768-60999): an outgoing connection can
# never be holding one of these ports when a service binds it.
export HARMONY_PG_PORT=24432 HARMONY_REDIS_PORT=24379 HARMONY_KAFKA_PORT=24092 HARMONY_DYNAMODB_PORT=24000
PORT=24100 URL=http://127.0.0.1:24100
say() { echo "soak: $*"; }

source bench/lib.sh
trap 'kill "${PLATFORM:-}" 2>/dev/null || true; scripts/services.sh stop >/dev/null 2>&1 || true' EXIT
fresh_services
BIN=${SOAK_BIN_DIR:-}
if [[ -z $BIN ]]; then
  cargo build -q --release -p harmony -p harmony-bench --bin harmony --bin soak
  BIN=$CARGO_TARGET_DIR/release
fi
BROKER=${HARMONY_BROKER_BIN:-$CARGO_TARGET_DIR/release/harmony-broker}

start_platform() {
  HTTP__BIND=127.0.0.1:$PORT HTTP__PUBLIC_URL=$URL APP__LOG_FILTER=warn "$BIN/harmony" dev \
    >>"$HARMONY_DATA_DIR/platform.log" 2>&1 &
  PLATFORM=$!
  wait_ready "$URL" "$HARMONY_DATA_DIR/platform.log"
}

# cpu_seconds PID...: user+system CPU seconds of each process, space-separated.
cpu_seconds() { for pid; do awk '{printf "%.2f ", ($14+$15)/100}' "/proc/$pid/stat"; done; }
service_pid() { head -n1 "$HARMONY_DATA_DIR/$1"; }

start_platform
say "sending $MESSAGES messages"
"$BIN/soak" send --url "$URL" --messages "$MESSAGES" --rate "$RATE" --acked "$HARMONY_DATA_DIR/acked.json"
say "broker log: $(du -sh "$HARMONY_DATA_DIR/kafka/data" | cut -f1)"

say "SIGKILL the broker and the platform"
kill -9 "$(service_pid kafka/kafka.pid)" "$PLATFORM"
wait "$PLATFORM" 2>/dev/null || true
started=$(date +%s.%N)
scripts/services.sh start kafka >/dev/null
"$BROKER" probe --broker "127.0.0.1:$HARMONY_KAFKA_PORT" --timeout-secs 10
say "broker answered metadata $(awk "BEGIN{printf \"%.2f\", $(date +%s.%N) - $started}") s after the restart began"
start_platform
"$BIN/soak" verify --url "$URL" --acked "$HARMONY_DATA_DIR/acked.json"

pids=("$PLATFORM" "$(service_pid kafka/kafka.pid)" "$(service_pid postgres/data/postmaster.pid)" \
  "$(service_pid redis/redis.pid)" "$(service_pid dynamodb/dynamodb.pid)")
read -ra before <<<"$(cpu_seconds "${pids[@]}")"
sleep 10
read -ra after <<<"$(cpu_seconds "${pids[@]}")"
names=(platform broker postgres redis dynalite)
for i in "${!names[@]}"; do
  say "idle CPU of ${names[$i]}: $(awk "BEGIN{printf \"%.1f\", (${after[$i]} - ${before[$i]}) * 10}") % of a core"
done
