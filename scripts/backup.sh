#!/usr/bin/env bash
# Backs up a self-managed Harmony into DIR (a new or empty directory):
#   Kafka     the sink's committed offsets on the message topic (read first)
#   Postgres  pg_dump, custom format
#   DynamoDB  a consistent scan of the history table, and its keys
# then manifest.json with checksums (a directory without it is no backup).
# Settings: the variables the app reads (POSTGRES__URL, DYNAMODB__URL,
# DYNAMODB__CHAT_HISTORY_TABLE_NAME, KAFKA__BOOTSTRAP_SERVERS, SINK__GROUP_ID,
# TOPICS__MESSAGES__NAME, ...; docs/configuration.md). Clusters on AWS use
# RDS and DynamoDB point-in-time recovery instead (docs/operations.md).
# Usage: scripts/backup.sh DIR
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if (($# != 1)); then echo "usage: $0 DIR" >&2; exit 2; fi
source "$ROOT/scripts/lib/backup-venv.sh"
ensure_backup_venv
exec "$BACKUP_VENV/bin/python" "$ROOT/scripts/lib/harmony_backup.py" backup "$1"
