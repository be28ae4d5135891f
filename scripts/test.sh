#!/usr/bin/env bash
# Runs every test against the real local services. Installs and starts
# whatever is missing first, so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cargo-env.sh
claim_workspace_build
source scripts/lib/web.sh
source scripts/lib/venv.sh
source scripts/lib/backup-venv.sh

# Every binary the steps below run comes from this one build: the services'
# broker, the soak's platform, the manifest checks' operator. A per-package
# `cargo build` would resolve other features and compile most crates again.
export HARMONY_BROKER_BIN=$CARGO_TARGET_DIR/debug/harmony-broker
bins=$CARGO_TARGET_DIR/debug

# What the tests use besides the Rust build, installed while the compiler
# runs (on a fresh machine all the installs made the build 110 s slower:
# 466 s against 356 s alone).
install_test_tools() {
  scripts/services.sh install
  # Debian's Chromium drives the web app; the colour emoji font draws the
  # reaction picker and chips in screenshots.
  if ! command -v chromium >/dev/null || ! dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; then
    echo "harmony test: installing chromium and its emoji font (apt)"
    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-color-emoji) >/dev/null
  fi
  # The gateway tests drive the official centrifuge client from Node.
  npm_ci_if_stale app/tests/realtime
  build_web_if_stale
  # Pinned clients we did not write, each in its own venv: schemathesis
  # (the API's contract test), centrifuge-python (the gateway's Python SDK
  # test), kafka-python (the broker's second client family, app/broker/tests/python.rs),
  # and the backup tools the restore drill runs.
  ensure_venv "$HOME/.cache/harmony/venv-schemathesis" schemathesis==4.32.5
  ensure_venv "$HOME/.cache/harmony/venv-centrifuge" centrifuge-python==0.7.0 websockets==17.4 protobuf==7.36.2
  ensure_venv "$HOME/.cache/harmony/venv-kafka-python" kafka-python==3.0.12
  ensure_backup_venv
  # The offline checkers and cargo-fuzz install with the steps that use
  # them, in phase 1's idle time: here they took CPU from the build.
}
# Each step's start, in seconds since this script's, and how busy the CPU
# was since the step before (/proc/stat): where a run's time goes, and
# whether waiting or computing filled it.
step() {
  local -a cpu
  read -ra cpu </proc/stat # cpu user nice system idle iowait irq softirq steal
  local busy=$((cpu[1] + cpu[2] + cpu[3] + cpu[6] + cpu[7] + cpu[8])) idle=$((cpu[4] + cpu[5])) load=
  if [[ -n ${step_busy:-} ]] && ((busy + idle > step_busy + step_idle)); then
    load=", CPU $((100 * (busy - step_busy) / (busy + idle - step_busy - step_idle)))% busy since the last step"
  fi
  step_busy=$busy step_idle=$idle
  echo "harmony test: [${SECONDS}s$load] $*"
}
# finish NAME PID LOG [--log-on-failure]: waits for a background step and
# prints its log (or only when it failed); a failed step ends the run.
finish() {
  local ok=true
  wait "$2" || ok=false
  if ! $ok || [[ ${4:-} != --log-on-failure ]]; then cat "$3"; fi
  $ok || { echo "harmony test: $1 failed (above)" >&2; exit 1; }
}
# Background work ends with this script, whichever way it ends: each job
# runs in a process group of its own (job control), which the trap ends
# whole (a job's cargo or fuzzer too, not only its shell).
set -m
trap 'for job in $(jobs -p); do kill -- -"$job" 2>/dev/null || true; done' EXIT
installs_log=$(mktemp)
install_test_tools >"$installs_log" 2>&1 &
installs=$!
if ! command -v cargo-nextest >/dev/null; then
  echo "harmony test: installing cargo-nextest"
  cargo install cargo-nextest --locked
fi
step "building every binary and test binary (dev profile); installing tools meanwhile, log: $installs_log"
cargo build --workspace --locked --lib --bins --tests
finish "installing the tools" "$installs" "$installs_log"

# The previous release's binary reuses this build's dependencies and
# compiles only its own crates, while the services start; it holds the
# shared build directory's lock, so it ends before the tests' cargo starts.
previous_log=$(mktemp)
previous_bin=$(mktemp)
scripts/previous-release.sh >"$previous_bin" 2>"$previous_log" &
previous_build=$!

step "starting the services; building the previous release"
scripts/services.sh start
scripts/services.sh sweep-tests
eval "$(scripts/services.sh env)"
(cd app/web && npm run --silent test)

finish "building the previous release" "$previous_build" "$previous_log" --log-on-failure
# Phase 1 leaves a core idle for about 40 % of its time (tests that wait
# on a timeout, a browser, a subprocess). The steps that need none of the
# services fill it, at the lowest priority, each installing its tools first:
# - the fuzz target's build (its own: sanitizer flags, release);
# - the platform path, offline: every Kubernetes manifest (operator, gitops
#   environments, charts, helmfile), the Argo CD health check, checkov; and
#   terraform (fmt, HCL, provider schemas, tests, checkov).
fuzz_log=$(mktemp)
nice -n 19 bash scripts/fuzz.sh build >"$fuzz_log" 2>&1 &
fuzz_build=$!
offline_log=$(mktemp)
nice -n 19 bash -c 'set -e
  bash scripts/validate-manifests.sh "$1"
  bash scripts/check-terraform.sh' _ "$bins/harmony-operator" >"$offline_log" 2>&1 &
offline_checks=$!
step "phase 1: the tests but the fault and upgrade tests; beside them the fuzz target's build ($fuzz_log) and the offline checks of the platform path ($offline_log)"
# The services' state is shared; each test isolates itself (own database, topics, table).
# The fault tests kill workers and restart the broker, so they run afterwards,
# alone; with them the upgrade test, which runs the previous release's build.
cargo nextest run --workspace --locked --no-fail-fast -E 'not test(/^(fault|upgrade)::/)' "$@"
step "waiting for the fuzz target's build"
finish "building the fuzz target" "$fuzz_build" "$fuzz_log" --log-on-failure
# The broker's request decoder under libFuzzer for a minute (no input may
# panic or allocate without bound; scripts/fuzz.sh), at the lowest priority
# beside phase 2, which runs one test at a time and mostly waits.
fuzzing_log=$(mktemp)
nice -n 19 bash scripts/fuzz.sh 60 >"$fuzzing_log" 2>&1 &
fuzzing=$!
step "phase 2: the fault and upgrade tests, one at a time; the fuzzing beside them ($fuzzing_log)"
HARMONY_PREVIOUS_RELEASE_BIN=$(cat "$previous_bin") \
  cargo nextest run --workspace --locked --no-fail-fast --test-threads 1 -E 'test(/^(fault|upgrade)::/)' "$@"
# A small soak on services of its own: sends, SIGKILL of broker and
# platform, restart, every acknowledged message in history exactly once.
# Alone: beside the fault tests at nice 10 its platform refused sends for a
# minute (106,581 retries) and its sink stalled 58 s.
step "the soak"
SOAK_BIN_DIR=$bins bench/soak.sh 6000
step "the fuzzing"
finish "the fuzzing" "$fuzzing" "$fuzzing_log"
step "the offline checks of the platform path"
finish "the offline checks of the platform path" "$offline_checks" "$offline_log"
step "done"
