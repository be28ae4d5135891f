#!/usr/bin/env bash
# The whole platform on this machine, in the foreground: installs what is
# missing, starts the local services, runs `harmony dev`, and stops it all on
# Ctrl-C. Set HARMONY_KEEP_SERVICES=1 to leave the services running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cargo-env.sh
claim_workspace_build
source scripts/lib/web.sh

# The platform and the local broker come from one build (they share every
# dependency); the services' programs and the web app are installed and
# built meanwhile.
export HARMONY_BROKER_BIN=$CARGO_TARGET_DIR/debug/harmony-broker
installs_log=$(mktemp)
{ scripts/services.sh install && build_web_if_stale; } >"$installs_log" 2>&1 &
installs=$!
cargo build --locked -p harmony -p harmony-broker --bins
if ! wait "$installs"; then
  cat "$installs_log"
  echo "harmony dev: installing the services or building the web app failed (above)" >&2
  exit 1
fi

scripts/services.sh start
stop_services() {
  if [ "${HARMONY_KEEP_SERVICES:-0}" != 1 ]; then scripts/services.sh stop; fi
}
trap stop_services EXIT
eval "$(scripts/services.sh env)"
"$CARGO_TARGET_DIR/debug/harmony" dev
