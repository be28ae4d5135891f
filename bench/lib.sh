# Shared by the bench scripts: fresh local services on the caller's own data
# directory and ports (HARMONY_DATA_DIR, HARMONY_*_PORT), and waiting for a
# platform's readiness. The caller sets its own EXIT trap.

# fresh_services: stops whatever runs on these ports, wipes the data, starts anew, exports the env.
fresh_services() {
  scripts/services.sh stop >/dev/null 2>&1 || true
  rm -rf "$HARMONY_DATA_DIR"
  scripts/services.sh start >/dev/null
  eval "$(scripts/services.sh env)"
}

# wait_ready URL LOG: waits up to a minute for URL/readyz; on failure shows LOG and exits.
wait_ready() {
  for _ in $(seq 600); do
    curl -sf "$1/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "$1 did not become ready" >&2
  tail -20 "$2" >&2
  exit 1
}
