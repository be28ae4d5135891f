#!/usr/bin/env bash
# Runs every test against the real local services. Installs and starts
# whatever is missing first (scripts/services.sh), so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cargo-env.sh

scripts/services.sh start
scripts/services.sh sweep-tests
eval "$(scripts/services.sh env)"

# The gateway tests drive the official centrifuge client from Node; the web
# app is built and driven in Debian's Chromium.
source scripts/lib/web.sh
npm_ci_if_stale app/tests/realtime
build_web_if_stale
(cd app/web && npm run --silent test)
# The colour emoji font draws the reaction picker and chips in screenshots.
if ! command -v chromium >/dev/null || ! dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; then
  echo "harmony test: installing chromium and its emoji font (apt)"
  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-color-emoji) >/dev/null
fi

# The API's contract test runs schemathesis (pinned) from its own venv.
schemathesis_venv=$HOME/.cache/harmony/venv-schemathesis
if ! "$schemathesis_venv/bin/schemathesis" --version 2>/dev/null | grep -q 4.32.5; then
  echo "harmony test: installing schemathesis 4.32.5 into $schemathesis_venv"
  python3 -m venv "$schemathesis_venv"
  "$schemathesis_venv/bin/pip" install --quiet --disable-pip-version-check schemathesis==4.32.5
fi

# The gateway's Python SDK test (realtime::{json,protobuf}::the_python_sdk_*)
# runs centrifuge-python (pinned, with its dependencies) from its own venv.
centrifuge_venv=$HOME/.cache/harmony/venv-centrifuge
if ! "$centrifuge_venv/bin/python" -c 'import importlib.metadata as m; print(m.version("centrifuge-python"))' 2>/dev/null | grep -qx 0.7.0; then
  echo "harmony test: installing centrifuge-python 0.7.0 into $centrifuge_venv"
  python3 -m venv "$centrifuge_venv"
  "$centrifuge_venv/bin/pip" install --quiet --disable-pip-version-check centrifuge-python==0.7.0 websockets==17.4 protobuf==7.36.2
fi

# The broker's second client family: kafka-python (pinned) from its own venv
# (app/broker/tests/python.rs).
kafka_python_venv=$HOME/.cache/harmony/venv-kafka-python
if ! "$kafka_python_venv/bin/python" -c 'import kafka, sys; sys.exit(kafka.__version__ != "3.0.12")' 2>/dev/null; then
  echo "harmony test: installing kafka-python 3.0.12 into $kafka_python_venv"
  python3 -m venv "$kafka_python_venv"
  "$kafka_python_venv/bin/pip" install --quiet --disable-pip-version-check kafka-python==3.0.12
fi

# The restore drill (restore::) runs scripts/backup.sh and scripts/restore.sh:
# boto3 and kafka-python (pinned) from their own venv.
source scripts/lib/backup-venv.sh
ensure_backup_venv

if ! command -v cargo-nextest >/dev/null; then
  echo "harmony test: installing cargo-nextest"
  cargo install cargo-nextest --locked
fi
# The services' state is shared; each test isolates itself (own database, topics, table).
# The fault tests kill workers and restart the broker, so they run afterwards, alone.
cargo nextest run --workspace --no-fail-fast -E 'not test(/^fault::/)' "$@"
cargo nextest run -p harmony --no-fail-fast --test-threads 1 -E 'test(/^fault::/)' "$@"
# The broker's request decoder under libFuzzer for a minute: no input may
# panic or allocate without bound (scripts/fuzz.sh).
bash scripts/fuzz.sh 60
# A small soak on its own services: sends, SIGKILL of broker and platform,
# restart, every acknowledged message in history exactly once.
SOAK_PROFILE=debug bench/soak.sh 6000
# The platform path, offline: every Kubernetes manifest (operator, gitops
# environments, charts, helmfile), the Argo CD health check, checkov; then
# terraform (fmt, HCL, provider schemas, tests, checkov).
bash scripts/validate-manifests.sh
bash scripts/check-terraform.sh
