#!/usr/bin/env bash
# Restores the stores of staging or prod on AWS to a moment T, as
# docs/operations.md ("prod and staging") describes: RDS to T into a new
# instance that then takes the old one's name (so the endpoint in the
# environment's postgres secret stays right; the damaged one is kept as
# <name>-damaged), and the chat history table to T into a new table, with
# the source's KMS key and point-in-time recovery window. It stops at the
# first failed step, so the damaged instance is renamed only once the
# restored one is available. What is left (terraform state, the
# HarmonyChat's table, the sink's group, Redis, starting the roles) it
# prints at the end. Stop the roles first (step 1 there).
#
#   scripts/restore-aws.sh ENV TIME [--table NAME]
#     ENV    staging or prod
#     TIME   UTC, as 2026-12-02T09:55:00Z
#     NAME   the current history table (default harmony-ENV-chat-history;
#            a table restored earlier has the name it was restored to)
# Runs the AWS CLI with the caller's credentials and region.
set -euo pipefail

usage() {
  echo "usage: scripts/restore-aws.sh staging|prod 2026-12-02T09:55:00Z [--table NAME]" >&2
  exit 2
}
[ $# -eq 2 ] || [ $# -eq 4 ] || usage
env=$1
at=$2
case $env in staging | prod) ;; *) echo "restore-aws: unknown environment '$env'" >&2; usage ;; esac
if ! [[ $at =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]]; then
  echo "restore-aws: TIME must be UTC as 2026-12-02T09:55:00Z, not '$at'" >&2
  usage
fi
table=harmony-$env-chat-history
if [ $# -eq 4 ]; then
  [ "$3" = --table ] || usage
  table=$4
fi
step() { echo "restore-aws: $*" >&2; }

# Postgres: a new instance at T, in the source's network and parameters.
db=harmony-$env-postgres
restored=$db-restored
read -r subnets groups parameters multi_az < <(aws rds describe-db-instances \
  --db-instance-identifier "$db" --output text \
  --query 'DBInstances[0].[DBSubnetGroup.DBSubnetGroupName, join(`,`, VpcSecurityGroups[].VpcSecurityGroupId), DBParameterGroups[0].DBParameterGroupName, MultiAZ]')
multi=--no-multi-az
[ "$multi_az" = True ] && multi=--multi-az
step "restoring $db to $at as $restored"
aws rds restore-db-instance-to-point-in-time \
  --source-db-instance-identifier "$db" --target-db-instance-identifier "$restored" \
  --restore-time "$at" --db-subnet-group-name "$subnets" \
  --vpc-security-group-ids ${groups//,/ } --db-parameter-group-name "$parameters" \
  "$multi" --deletion-protection >/dev/null
aws rds wait db-instance-available --db-instance-identifier "$restored"
step "renaming $db to $db-damaged and $restored to $db"
aws rds modify-db-instance --db-instance-identifier "$db" \
  --new-db-instance-identifier "$db-damaged" --apply-immediately >/dev/null
aws rds wait db-instance-available --db-instance-identifier "$db-damaged"
aws rds modify-db-instance --db-instance-identifier "$restored" \
  --new-db-instance-identifier "$db" --apply-immediately >/dev/null
aws rds wait db-instance-available --db-instance-identifier "$db"

# DynamoDB: a restore never overwrites a table; the new one gets the
# source's key and recovery window (a restored table has neither).
new_table=$table-$(tr -d ':TZ-' <<<"${at:0:16}")
key=$(aws dynamodb describe-table --table-name "$table" --output text \
  --query 'Table.SSEDescription.KMSMasterKeyArn')
days=$(aws dynamodb describe-continuous-backups --table-name "$table" --output text \
  --query 'ContinuousBackupsDescription.PointInTimeRecoveryDescription.RecoveryPeriodInDays')
step "restoring $table to $at as $new_table"
aws dynamodb restore-table-to-point-in-time --source-table-name "$table" \
  --target-table-name "$new_table" --restore-date-time "$at" \
  --sse-specification-override "Enabled=true,SSEType=KMS,KMSMasterKeyId=$key" >/dev/null
aws dynamodb wait table-exists --table-name "$new_table"
aws dynamodb update-continuous-backups --table-name "$new_table" \
  --point-in-time-recovery-specification "PointInTimeRecoveryEnabled=true,RecoveryPeriodInDays=$days" >/dev/null

cat <<EOF
restore-aws: $db is the restored instance (at $at); the damaged one is $db-damaged.
restore-aws: the history at $at is table $new_table. Left to do (docs/operations.md, steps 2-6):
  - terraform (terraform/environments/$env): state rm and import of
    module.environment.module.postgres.aws_db_instance.this ($db) and of
    module.environment.module.dynamodb.aws_dynamodb_table.chat_history ($new_table,
    with dynamodb_table_name = "$new_table"), then apply;
  - reset the sink's group to a few minutes before $at, flush Redis;
  - start the roles again.
EOF
