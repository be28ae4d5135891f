#!/usr/bin/env bash
# Real-time gateway benchmark on its own services and ports: `harmony dev`
# (API, relay, sink, cdc) plus a separate `harmony gateway` process whose
# memory and CPU are measured. Prints the figures bench/README.md records.
#   bench/realtime.sh [CONNECTIONS] [RATE]     (default 10000 at 1000 msg/s; release build)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cargo-env.sh
claim_workspace_build
CONNECTIONS=${1:-10000}
RATE=${2:-1000}
export HARMONY_DATA_DIR=${BENCH_DATA_DIR:-/var/lib/harmony-realtime-bench}
export HARMONY_PG_PORT=25432 HARMONY_REDIS_PORT=25379 HARMONY_KAFKA_PORT=25092 HARMONY_DYNAMODB_PORT=25000
API=http://127.0.0.1:25100 GATEWAY=127.0.0.1:25200

source bench/lib.sh
trap 'kill ${PLATFORM:-} ${GATEWAY_PID:-} 2>/dev/null || true; scripts/services.sh stop >/dev/null 2>&1 || true' EXIT
fresh_services
cargo build -q --release -p harmony -p harmony-bench --bin harmony --bin realtime-bench
BIN=$CARGO_TARGET_DIR/release

HTTP__BIND=${API#http://} HTTP__PUBLIC_URL=$API APP__LOG_FILTER=warn "$BIN/harmony" dev \
  >"$HARMONY_DATA_DIR/platform.log" 2>&1 &
PLATFORM=$!
wait_ready "$API" "$HARMONY_DATA_DIR/platform.log"
HTTP__BIND=$GATEWAY APP__LOG_FILTER=warn "$BIN/harmony" gateway >"$HARMONY_DATA_DIR/gateway.log" 2>&1 &
GATEWAY_PID=$!
wait_ready "http://$GATEWAY" "$HARMONY_DATA_DIR/gateway.log"
# Sends and tokens through the platform's API, connections to the measured gateway.
"$BIN/realtime-bench" --api "$API" --gateway "http://$GATEWAY" --gateway-pid "$GATEWAY_PID" \
  --connections "$CONNECTIONS" --rate "$RATE"
