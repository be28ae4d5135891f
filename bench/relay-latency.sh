#!/usr/bin/env bash
# Relay latency under load: the outbox relay's commit -> Kafka acknowledgement
# time while the API takes message sends and membership churn (outbox events
# for the relay and the cdc) at the same time, and while an unrelated
# transaction stays open for the whole run (it once held the relay back).
# Own services and ports; release build. Prints the relay's quantiles.
#   bench/relay-latency.sh [SEND_RATE] [CHURN_RATE] [SECONDS]   (default 500 100 20)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cargo-env.sh
claim_workspace_build
SEND_RATE=${1:-500} CHURN_RATE=${2:-100} SECONDS_=${3:-20}
export HARMONY_DATA_DIR=${BENCH_DATA_DIR:-/var/lib/harmony-relay-bench}
export HARMONY_PG_PORT=26432 HARMONY_REDIS_PORT=26379 HARMONY_KAFKA_PORT=26092 HARMONY_DYNAMODB_PORT=26000
URL=http://127.0.0.1:26100
source bench/lib.sh
trap 'kill ${PLATFORM:-} ${HOLDER:-} 2>/dev/null || true; scripts/services.sh stop >/dev/null 2>&1 || true' EXIT
fresh_services
cargo build -q --release -p harmony -p harmony-bench --bin harmony --bin harmony-bench
BIN=$CARGO_TARGET_DIR/release
HTTP__BIND=${URL#http://} HTTP__PUBLIC_URL=$URL APP__LOG_FILTER=warn "$BIN/harmony" dev >"$HARMONY_DATA_DIR/platform.log" 2>&1 &
PLATFORM=$!
wait_ready "$URL" "$HARMONY_DATA_DIR/platform.log"
# An unrelated transaction holding a transaction id for the whole run.
psql "$POSTGRES__URL" -qc "BEGIN; SELECT pg_current_xact_id(); SELECT pg_sleep($((SECONDS_ + 30))); COMMIT;" >/dev/null 2>&1 &
HOLDER=$!
"$BIN/harmony-bench" send --url "$URL" --rate "$SEND_RATE" --duration "$SECONDS_" &
SENDS=$!
"$BIN/harmony-bench" churn --url "$URL" --rate "$CHURN_RATE" --duration "$SECONDS_" --chats 16
wait "$SENDS"
for _ in $(seq 300); do
  pending=$(psql "$POSTGRES__URL" -Atc "SELECT count(*) FROM outbox_events WHERE published_at IS NULL")
  [[ $pending == 0 ]] && break
  sleep 0.1
done
echo "relay-latency: unpublished outbox rows at the end: $pending"
# Every row of the run: insert (the command's transaction) -> marked published
# (after Kafka acknowledged it). /metrics keeps only a recent window.
psql "$POSTGRES__URL" -Atc "
  WITH lag AS (SELECT 1000 * extract(epoch FROM published_at - created_at) AS ms FROM outbox_events)
  SELECT format('relay-latency: %s events; insert -> Kafka ack ms: p50 %s  p99 %s  max %s', count(*),
    round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1),
    round(max(ms)::numeric, 1))
  FROM lag"
curl -s "$URL/metrics" | grep -E '^harmony_cdc_events_applied_total|^harmony_relay_events_published_total'
