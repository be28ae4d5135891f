#!/usr/bin/env bash
# The whole platform on this machine, in the foreground: installs what is
# missing, starts the local services, runs `harmony dev`, and stops it all on
# Ctrl-C. Set HARMONY_KEEP_SERVICES=1 to leave the services running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cargo-env.sh

scripts/services.sh start
stop_services() {
  if [ "${HARMONY_KEEP_SERVICES:-0}" != 1 ]; then scripts/services.sh stop; fi
}
trap stop_services EXIT
eval "$(scripts/services.sh env)"

source scripts/lib/web.sh
build_web_if_stale
cargo build --bin harmony
"$CARGO_TARGET_DIR/debug/harmony" dev
