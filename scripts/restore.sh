#!/usr/bin/env bash
# Restores a backup of scripts/backup.sh, in this order, after checking
# everything first (a refused restore changes nothing):
#   1. the sink's consumer group has no members (stop every sink first)
#   2. Postgres: pg_restore into the database of POSTGRES__URL (created when
#      missing; must be empty unless --replace)
#   3. DynamoDB: the table created when missing (must be empty unless
#      --replace, which deletes and recreates it), then the items imported
#   4. Kafka: the sink's group reset to the backup's offsets, so the sink,
#      once started, replays every message acknowledged after the backup
#      that the log still holds (retention bounds it)
#   5. Redis: the cache database flushed (it holds state newer than the backup)
# Then start the sink and the other roles.
# Exit: 0 restored; 1 refused or failed; 3 restored, but the log has lost
# records after the backup (listed).
# Usage: scripts/restore.sh DIR [--replace] [--without-log]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if (($# < 1)); then echo "usage: $0 DIR [--replace] [--without-log]" >&2; exit 2; fi
source "$ROOT/scripts/lib/backup-venv.sh"
ensure_backup_venv
exec "$BACKUP_VENV/bin/python" "$ROOT/scripts/lib/harmony_backup.py" restore "$@"
