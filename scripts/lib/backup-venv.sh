# Sourced by scripts/backup.sh, scripts/restore.sh and scripts/test.sh: the
# pinned Python venv of the backup tools (boto3 for DynamoDB, kafka-python for
# the sink's consumer group offsets), installed once into the shared cache.
BACKUP_VENV=${HARMONY_BACKUP_VENV:-$HOME/.cache/harmony/venv-backup}
ensure_backup_venv() {
  if ! "$BACKUP_VENV/bin/python" -c 'import importlib.metadata as m, sys; sys.exit((m.version("boto3"), m.version("botocore"), m.version("kafka-python")) != ("1.44.5", "1.44.8", "3.0.12"))' 2>/dev/null; then
    echo "harmony: installing boto3 1.44.5, botocore 1.44.8 and kafka-python 3.0.12 into $BACKUP_VENV" >&2
    python3 -m venv "$BACKUP_VENV"
    "$BACKUP_VENV/bin/pip" install --quiet --disable-pip-version-check boto3==1.44.5 botocore==1.44.8 kafka-python==3.0.12 >&2
  fi
}
