# Sourced by scripts/backup.sh, scripts/restore.sh and scripts/test.sh: the
# pinned Python venv of the backup tools (boto3 for DynamoDB, kafka-python for
# the sink's consumer group offsets), installed once into the shared cache.
source "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
BACKUP_VENV=${HARMONY_BACKUP_VENV:-$HOME/.cache/harmony/venv-backup}
ensure_backup_venv() { ensure_venv "$BACKUP_VENV" boto3==1.44.5 botocore==1.44.8 kafka-python==3.0.12; }
