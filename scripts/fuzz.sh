#!/usr/bin/env bash
# Fuzzes the broker's request decoder (app/broker/fuzz) for a bounded time:
#   scripts/fuzz.sh [SECONDS]   (default 60)
#   scripts/fuzz.sh build       (only build the target; the test command
#                                builds it while the tests run)
# cargo-fuzz drives libFuzzer, which needs nightly compiler flags
# (-Zsanitizer, sanitizer coverage); this machine has stable Rust only, so
# RUSTC_BOOTSTRAP=1 lets stable accept them. Any input that panics, or that
# allocates past -malloc_limit_mb (how kafka-protocol 0.18.0 aborted the
# broker), fails the run; the input is kept under app/broker/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cargo-env.sh
source scripts/lib/tools.sh
ensure_cargo_fuzz
if [[ ${1:-} == build ]]; then
  exec env RUSTC_BOOTSTRAP=1 cargo fuzz build --fuzz-dir app/broker/fuzz decode_request
fi
seconds=${1:-60}
corpus=$HOME/.cache/harmony/fuzz-corpus/decode_request
mkdir -p "$corpus"
RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir app/broker/fuzz decode_request "$corpus" -- \
  -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -print_final_stats=1
