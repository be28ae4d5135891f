#!/usr/bin/env bash
# Local development/test services for Harmony, all on 127.0.0.1:
#   postgres (Debian PostgreSQL 15), redis (Debian), kafka (harmony-broker, Kafka API), dynamodb (dynalite, DynamoDB API).
# Usage: scripts/services.sh install|start|stop|status|env [service...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/lib/cargo-env.sh"

D=$(realpath -m "${HARMONY_DATA_DIR:-/var/lib/harmony}")   # absolute: kafka runs from its own dir
TOOLS=$(realpath -m "${HARMONY_TOOLS_DIR:-$HOME/.cache/harmony/tools}")
PG_PORT=${HARMONY_PG_PORT:-15432}
REDIS_PORT=${HARMONY_REDIS_PORT:-16379}
KAFKA_PORT=${HARMONY_KAFKA_PORT:-19092}
DYNAMODB_PORT=${HARMONY_DYNAMODB_PORT:-18000}
TIMEOUT=${HARMONY_READY_TIMEOUT:-60}

PG_BIN=/usr/lib/postgresql/15/bin
DYNALITE_VERSION=4.0.0
DYNALITE=$TOOLS/dynalite-$DYNALITE_VERSION/node_modules/.bin/dynalite
ALL_SERVICES=(postgres redis kafka dynamodb)
export PATH=$HOME/.cargo/bin:$PATH

say() { echo "harmony services: $*"; }
die() { echo "harmony services: ERROR: $*" >&2; exit 1; }

# fail SERVICE LOG MESSAGE: report a service failure with the end of its log.
fail() {
  echo "harmony services: ERROR: $1 $3 (log: $2)" >&2
  if [[ -f $2 ]]; then echo "----- last 20 lines of $2 -----" >&2; tail -n 20 "$2" >&2; fi
  exit 1
}

# Run a command quietly, appending its output to LOG; on failure show the log's tail.
run_logged() {
  local log=$1; shift
  mkdir -p "$(dirname "$log")"
  "$@" >>"$log" 2>&1 || fail "install step '$*'" "$log" "failed"
}

APT_UPDATED=
apt_install() {
  say "installing $* (apt)"
  local log=$TOOLS/apt-install.log
  [[ -n $APT_UPDATED ]] || { run_logged "$log" apt-get update; APT_UPDATED=1; }
  run_logged "$log" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

# A killed daemon stays a zombie until PID 1 reaps it (seconds here), so kill -0 alone is not enough.
alive() { [[ $(ps -o stat= -p "$1" 2>/dev/null) == [^Z]* ]]; }

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# pid_running PIDFILE PATTERN: the pid in PIDFILE is alive and its command line matches PATTERN
# (guards against a recycled pid after a reboot or kill -9).
pid_running() {
  local pid
  [[ -s $1 ]] || return 1
  pid=$(head -n1 "$1")
  [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

# listens PID PORT: process PID has a listening TCP socket on PORT.
listens() { ss -Hltnp "sport = :$2" 2>/dev/null | grep -q "pid=$1,"; }

# already_running SERVICE PIDFILE PATTERN PORT: true if our process serves PORT; dies if it runs with another port.
already_running() {
  pid_running "$2" "$3" || return 1
  local pid; pid=$(head -n1 "$2")
  listens "$pid" "$4" || die "$1: running as pid $pid but not listening on port $4 (other settings, or still starting?); run: $0 stop $1"
  say "$1: already running on port $4"
}

# Before starting: drop a stale pidfile and refuse if someone else holds our port.
check_free() { # SERVICE PIDFILE PORT PORTVAR
  if [[ -e $2 ]]; then say "$1: removing stale pidfile $2"; rm -f "$2"; fi
  if port_open "$3"; then
    local who; who=$(ss -Hltnp "sport = :$3" 2>/dev/null | grep -o 'users:.*' | head -n1 || true)
    die "$1: port 127.0.0.1:$3 is already in use by another process ${who:+($who) }- stop it or set $4"
  fi
}

# A marker in the log, so the tail shown on failure is clearly this attempt's.
mark() { echo "=== $(date '+%F %T') harmony services: starting $1" >>"$2"; }

# wait_ready SERVICE LOG PID PROBE...: poll PROBE until it succeeds, the process dies or the deadline passes.
wait_ready() {
  local svc=$1 log=$2 pid=$3 deadline=$((SECONDS + TIMEOUT)); shift 3
  until "$@" >/dev/null 2>&1; do
    if ! alive "$pid"; then fail "$svc" "$log" "exited during start-up"; fi
    if ((SECONDS > deadline)); then
      kill "$pid" 2>/dev/null || true
      fail "$svc" "$log" "not ready after ${TIMEOUT}s (process $pid killed)"
    fi
    sleep 0.2
  done
}

# stop_pid SERVICE PIDFILE PATTERN: SIGTERM (all four save/flush on it), SIGKILL after the deadline.
stop_pid() {
  local pid deadline=$((SECONDS + TIMEOUT))
  if ! pid_running "$2" "$3"; then rm -f "$2"; say "$1: not running"; return 0; fi
  pid=$(head -n1 "$2")
  kill "$pid" 2>/dev/null || true
  while alive "$pid"; do
    if ((SECONDS > deadline)); then say "$1: did not exit after ${TIMEOUT}s, killing"; kill -9 "$pid" 2>/dev/null || true; break; fi
    sleep 0.1
  done
  rm -f "$2"
  say "$1: stopped"
}

# ---------------------------------------------------------------- TLS
# A local CA and one certificate for 127.0.0.1/localhost, made once: the
# managed services in the cloud all speak TLS, so the tests connect to local
# servers the same way (Postgres here; private Redis and Kafka in the tests).
TLS_DIR=$D/tls
ensure_tls() {
  [[ -s $TLS_DIR/server.pem && -s $TLS_DIR/ca.pem ]] && return 0
  command -v openssl >/dev/null || apt_install openssl
  say "tls: creating a local CA and a server certificate in $TLS_DIR"
  mkdir -p "$TLS_DIR"
  local log=$TLS_DIR/openssl.log
  run_logged "$log" openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Harmony local CA" \
    -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem"
  run_logged "$log" openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.csr"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$TLS_DIR/server.ext"
  run_logged "$log" openssl x509 -req -in "$TLS_DIR/server.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
    -CAcreateserial -days 3650 -extfile "$TLS_DIR/server.ext" -out "$TLS_DIR/server.pem"
  chmod 0644 "$TLS_DIR/server.key"   # the tests' own servers read it too (a local, throwaway key)
}

# ---------------------------------------------------------------- postgres
PG_DIR=$D/postgres PG_LOG=$D/postgres/postgres.log PG_PID=$D/postgres/data/postmaster.pid
# initdb refuses to run as root; cd / because user postgres may not be able to enter the current dir.
pg() { (cd / && runuser -u postgres -- "$PG_BIN/$1" "${@:2}"); }
pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -t 2; }

install_postgres() { [[ -x $PG_BIN/initdb ]] || apt_install postgresql; }

start_postgres() {
  already_running postgres "$PG_PID" postgres "$PG_PORT" && return 0
  check_free postgres "$PG_PID" "$PG_PORT" HARMONY_PG_PORT
  # After a crash the socket lock file may name a zombie pid, which postgres mistakes for a live postmaster.
  local lock=$PG_DIR/.s.PGSQL.$PG_PORT.lock
  if [[ -s $lock ]] && ! alive "$(head -n1 "$lock")"; then rm -f "$lock"; fi
  mkdir -p "$PG_DIR" && touch "$PG_LOG" && chown postgres:postgres "$PG_DIR" "$PG_LOG"   # pg_ctl writes the log as postgres
  runuser -u postgres -- test -w "$PG_DIR" || die "postgres: user postgres cannot write $PG_DIR (is HARMONY_DATA_DIR under a private dir like /root?)"
  # Postgres refuses a key readable by others: its own copy, owned by it.
  ensure_tls
  install -o postgres -g postgres -m 0600 "$TLS_DIR/server.key" "$PG_DIR/server.key"
  install -o postgres -g postgres -m 0644 "$TLS_DIR/server.pem" "$PG_DIR/server.pem"
  if [[ ! -s $PG_DIR/data/PG_VERSION ]]; then
    say "postgres: initialising cluster in $PG_DIR/data"
    pg initdb -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >>"$PG_LOG" 2>&1 ||
      fail postgres "$PG_LOG" "initdb failed"
  fi
  say "postgres: starting on port $PG_PORT"
  mark postgres "$PG_LOG"
  pg pg_ctl -D "$PG_DIR/data" -l "$PG_LOG" -w -t "$TIMEOUT" -o "-p $PG_PORT -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories=$PG_DIR -c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10 \
    -c max_connections=300 -c ssl=on -c ssl_cert_file=$PG_DIR/server.pem -c ssl_key_file=$PG_DIR/server.key" start >/dev/null || {
    pg pg_ctl -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    fail postgres "$PG_LOG" "failed to start (pg_ctl start, timeout ${TIMEOUT}s)"
  }
  wait_ready postgres "$PG_LOG" "$(head -n1 "$PG_PID")" pg_ready
  if [[ -z $("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='harmony'") ]]; then
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres harmony
    say "postgres: created database harmony"
  fi
}

stop_postgres() {
  if ! pid_running "$PG_PID" postgres; then say "postgres: not running"; return 0; fi
  pg pg_ctl -D "$PG_DIR/data" -m fast -w -t "$TIMEOUT" stop >/dev/null || fail postgres "$PG_LOG" "did not stop"
  say "postgres: stopped"
}

# ---------------------------------------------------------------- redis
REDIS_DIR=$D/redis REDIS_LOG=$D/redis/redis.log REDIS_PID=$D/redis/redis.pid
redis_ready() { [[ $(timeout 2 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping) == PONG ]]; }

install_redis() { { command -v redis-server && command -v redis-cli; } >/dev/null || apt_install redis-server; }

start_redis() {
  already_running redis "$REDIS_PID" redis-server "$REDIS_PORT" && return 0
  check_free redis "$REDIS_PID" "$REDIS_PORT" HARMONY_REDIS_PORT
  mkdir -p "$REDIS_DIR"
  say "redis: starting on port $REDIS_PORT"
  mark redis "$REDIS_LOG"
  # appendonly: every write goes to the AOF, so data survives stop/start (and kill -9).
  # Run undaemonized under setsid (like the others; logs go to stdout) so we know its pid and see an early exit.
  setsid nohup redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize no --dir "$REDIS_DIR" \
    --pidfile "$REDIS_PID" --appendonly yes >>"$REDIS_LOG" 2>&1 </dev/null &
  echo $! >"$REDIS_PID"
  wait_ready redis "$REDIS_LOG" "$(head -n1 "$REDIS_PID")" redis_ready
}

stop_redis() { stop_pid redis "$REDIS_PID" redis-server; }

# ---------------------------------------------------------------- kafka (harmony-broker)
# The project's own single-node Kafka-compatible broker (app/broker), built
# from this checkout; docs/operations.md says why it replaced tansu.
KAFKA_DIR=$D/kafka KAFKA_LOG=$D/kafka/kafka.log KAFKA_PID=$D/kafka/kafka.pid
# HARMONY_BROKER_BIN: a broker the caller built (the dev and test commands
# take it from their own build, which shares every dependency).
BROKER=${HARMONY_BROKER_BIN:-$CARGO_TARGET_DIR/release/harmony-broker}
# Listening is not enough: a broker can accept connections and never answer.
kafka_ready() { "$BROKER" probe --broker "127.0.0.1:$KAFKA_PORT" --timeout-secs 5; }

install_kafka() {
  # Built from this checkout; rebuilt only when its sources changed (start runs this too).
  [[ -n ${HARMONY_BROKER_BIN:-} ]] && return 0
  if [[ -x $BROKER && -z $(find "$ROOT/app/broker" "$ROOT/Cargo.lock" -newer "$BROKER" -print -quit) ]]; then return 0; fi
  command -v cargo >/dev/null || die "kafka: cargo not found; install Rust (rustup) to build the broker"
  local log=$TOOLS/broker-build.log
  say "kafka: building harmony-broker (release; ~2 min cold), log: $log"
  (cd "$ROOT" && run_logged "$log" cargo build --release --locked -p harmony-broker)
  touch "$BROKER"   # a no-op build leaves the old mtime
}

start_kafka() {
  if already_running kafka "$KAFKA_PID" harmony-broker "$KAFKA_PORT"; then
    kafka_ready >/dev/null 2>&1 && return 0
    say "kafka: running on port $KAFKA_PORT but not answering metadata within 5 s; restarting it"
    stop_kafka
  fi
  check_free kafka "$KAFKA_PID" "$KAFKA_PORT" HARMONY_KAFKA_PORT
  [[ -x $BROKER ]] || die "kafka: $BROKER not found (run: $0 install)"
  mkdir -p "$KAFKA_DIR"
  say "kafka: starting harmony-broker on port $KAFKA_PORT"
  mark kafka "$KAFKA_LOG"
  RUST_LOG=${HARMONY_BROKER_LOG:-info} setsid nohup "$BROKER" serve --listen "127.0.0.1:$KAFKA_PORT" \
    --data-dir "$KAFKA_DIR/data" >>"$KAFKA_LOG" 2>&1 </dev/null &
  echo $! >"$KAFKA_PID"
  wait_ready kafka "$KAFKA_LOG" "$(cat "$KAFKA_PID")" kafka_ready
}

stop_kafka() { stop_pid kafka "$KAFKA_PID" harmony-broker; }

# ---------------------------------------------------------------- dynamodb (dynalite)
DYN_DIR=$D/dynamodb DYN_LOG=$D/dynamodb/dynamodb.log DYN_PID=$D/dynamodb/dynamodb.pid
# dynalite checks only that a SigV4 Authorization header and an X-Amz-Date (or Date) header are present.
dynamodb_ready() {
  curl -sf --max-time 2 -X POST -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'X-Amz-Target: DynamoDB_20120810.ListTables' -H 'X-Amz-Date: 20200101T000000Z' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=x' \
    -d '{}' "http://127.0.0.1:$DYNAMODB_PORT/" | grep -q TableNames
}

install_dynamodb() {
  [[ -x $DYNALITE ]] && return 0
  command -v npm >/dev/null || apt_install nodejs npm
  local dest=$TOOLS/dynalite-$DYNALITE_VERSION
  say "dynamodb: installing dynalite $DYNALITE_VERSION (npm)"
  # Install into a temporary dir and rename, so a failed install never looks complete.
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  run_logged "$TOOLS/dynalite-install.log" npm install --prefix "$dest.tmp" --no-fund --no-audit "dynalite@$DYNALITE_VERSION"
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
}

start_dynamodb() {
  already_running dynamodb "$DYN_PID" dynalite "$DYNAMODB_PORT" && return 0
  check_free dynamodb "$DYN_PID" "$DYNAMODB_PORT" HARMONY_DYNAMODB_PORT
  [[ -x $DYNALITE ]] || die "dynamodb: $DYNALITE not found (run: $0 install)"
  mkdir -p "$DYN_DIR"
  say "dynamodb: starting dynalite on port $DYNAMODB_PORT"
  mark dynamodb "$DYN_LOG"
  setsid nohup node "$DYNALITE" --host 127.0.0.1 --port "$DYNAMODB_PORT" --path "$DYN_DIR/data" \
    --createTableMs 0 --deleteTableMs 0 --updateTableMs 0 >>"$DYN_LOG" 2>&1 </dev/null &
  echo $! >"$DYN_PID"
  wait_ready dynamodb "$DYN_LOG" "$(cat "$DYN_PID")" dynamodb_ready
}

stop_dynamodb() { stop_pid dynamodb "$DYN_PID" dynalite; }

# ---------------------------------------------------------------- commands
status_line() { # SERVICE PORT PIDFILE PATTERN LOG
  local state=down
  pid_running "$3" "$4" && listens "$(head -n1 "$3")" "$2" && state=up
  printf 'harmony services: %-9s %-6s %-5s %s\n' "$1" "$2" "$state" "$5"
  [[ $state == up ]]
}

cmd_status() {
  local rc=0
  status_line postgres "$PG_PORT" "$PG_PID" postgres "$PG_LOG" || rc=3
  status_line redis "$REDIS_PORT" "$REDIS_PID" redis-server "$REDIS_LOG" || rc=3
  status_line kafka "$KAFKA_PORT" "$KAFKA_PID" harmony-broker "$KAFKA_LOG" || rc=3
  status_line dynamodb "$DYNAMODB_PORT" "$DYN_PID" dynalite "$DYN_LOG" || rc=3
  return "$rc"
}

# Development secrets: random, made on first use and kept with the local data
# (never the compiled-in development constants, never empty).
dev_secrets() {
  local file=$D/secrets.env name bytes
  mkdir -p "$D"
  touch "$file" && chmod 600 "$file"
  # One line per secret; a secret added by a newer checkout is appended, the others kept.
  for entry in AUTH__SECRET_KEY:32 AUTH__PROXY_SECRET:24 REALTIME__TOKEN_SECRET:32; do
    name=${entry%%:*} bytes=${entry##*:}
    grep -q "^$name=" "$file" ||
      printf '%s=%s\n' "$name" "$(od -An -tx1 -N"$bytes" /dev/urandom | tr -d ' \n')" >>"$file"
  done
  sed 's/^/export /' "$file"
}

cmd_env() {
  echo "export POSTGRES__URL=postgres://postgres@127.0.0.1:$PG_PORT/harmony"
  echo "export REDIS__URL=redis://127.0.0.1:$REDIS_PORT/0"
  echo "export KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_PORT"
  echo "export DYNAMODB__URL=http://127.0.0.1:$DYNAMODB_PORT"
  echo "export HARMONY_TLS_DIR=$TLS_DIR"
  dev_secrets
}

# Removes what integration tests leave behind: their databases (test_*) and
# topics (t_<id>_*), swept before a run rather than by each test.
cmd_sweep_tests() {
  local db topics
  # An upgrade test stopped on a timeout leaves its previous release's
  # process (scripts/previous-release.sh's binary) running.
  pkill -f '/previous-release/bin/harmony-' || true
  for db in $("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT datname FROM pg_database WHERE datname ~ '^test_[0-9a-f]{12}$'"); do
    "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
  done
  topics=$("$BROKER" topics --broker "127.0.0.1:$KAFKA_PORT" | grep -E '^t_[0-9a-f]{12}_' || true)
  if [[ -n $topics ]]; then
    # shellcheck disable=SC2086  # one topic name per word
    "$BROKER" delete-topics --broker "127.0.0.1:$KAFKA_PORT" $topics || die "kafka: could not delete leftover test topics"
  fi
  say "swept leftovers of earlier test runs ($(wc -w <<<"$topics") topics)"
}

main() {
  local cmd=${1:-} svc services=("${ALL_SERVICES[@]}")
  shift || true
  if (($#)); then services=("$@"); fi
  for svc in "${services[@]}"; do
    [[ " ${ALL_SERVICES[*]} " == *" $svc "* ]] || die "unknown service '$svc' (one of: ${ALL_SERVICES[*]})"
  done
  case $cmd in
    install | start | stop)
      [[ $EUID -eq 0 ]] || die "must run as root (postgres runs as user postgres, packages come from apt)"
      mkdir -p "$D" "$TOOLS" && chmod 755 "$D"   # user postgres must be able to traverse $D
      [[ $cmd == stop ]] || for svc in "${services[@]}"; do "install_$svc"; done
      [[ $cmd == install ]] || for svc in "${services[@]}"; do "${cmd}_$svc"; done ;;
    status) cmd_status ;;
    env) cmd_env ;;
    sweep-tests) cmd_sweep_tests ;;
    *) echo "usage: $0 install|start|stop|status|env|sweep-tests [service...]   (services: ${ALL_SERVICES[*]})" >&2; exit 2 ;;
  esac
}

main "$@"
