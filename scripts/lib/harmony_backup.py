"""Backup and restore of a self-managed Harmony (scripts/backup.sh, scripts/restore.sh).

A backup directory holds:
  kafka.json       the sink's committed offsets on the message topic, read first
  postgres.dump    pg_dump, custom format
  dynamodb.jsonl   the history table, one item per line (DynamoDB JSON), consistent scan
  table.json       the table's keys and billing mode, to create it again
  manifest.json    written last: a directory without it is not a backup

Why the sink's committed offsets and not the log's end: every record below
the committed offset was in DynamoDB before the commit, so before the scan
began; records at or above it may or may not be in the scan. Replaying from
the committed offset brings back every message acknowledged before the
backup (and after it), where the log's end would skip the ones the sink had
not written yet.

Settings come from the variables the app reads (docs/configuration.md).
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse

from botocore.exceptions import BotoCoreError, ClientError
from kafka.errors import KafkaError

FORMAT = 1
EXIT_LOG_GAP = 3


class Fail(Exception):
    """An error a person can act on; printed without a traceback."""


def say(message):
    print(f"harmony backup: {message}", file=sys.stderr, flush=True)


def setting(name, default=None):
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise Fail(f"{name} is not set (the same variable the app reads; see docs/configuration.md)")
        return default
    return value


# ---------------------------------------------------------------- files


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


# ---------------------------------------------------------------- postgres


def pg_tool(name):
    directory = os.environ.get("HARMONY_PG_BIN", "/usr/lib/postgresql/15/bin")
    candidate = os.path.join(directory, name)
    if os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    if not found:
        raise Fail(f"{name} not found (install postgresql-client, or set HARMONY_PG_BIN)")
    return found


def pg_url():
    return setting("POSTGRES__URL", "postgres://postgres@127.0.0.1:15432/harmony")


def pg_database(url):
    name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.lstrip("/"))
    if not name:
        raise Fail("POSTGRES__URL names no database")
    return name


def with_database(url, database):
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(database)))


def redacted(url):
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":<redacted>@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def run(argv, what):
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise Fail(f"{what} failed (exit {result.returncode}):\n{result.stderr.strip()}")
    return result.stdout


def psql(url, sql, **variables):
    """Runs SQL from stdin (so :'name' variables are quoted by psql)."""
    argv = [pg_tool("psql"), "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-tA", "-d", url]
    for name, value in variables.items():
        argv += ["-v", f"{name}={value}"]
    result = subprocess.run(argv, input=sql, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise Fail(f"psql on {redacted(url)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def pg_backup(directory):
    url = pg_url()
    path = os.path.join(directory, "postgres.dump")
    run([pg_tool("pg_dump"), "--format=custom", "--file", path, "--dbname", url], "pg_dump of " + redacted(url))
    return {"database": pg_database(url), "file": "postgres.dump", "sha256": sha256(path)}


# Tables, views, sequences in the database's own schemas.
USER_RELATIONS = """SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"""


def pg_plan(replace):
    """What the restore will do; raises before anything changed if it may not."""
    url = pg_url()
    database = pg_database(url)
    maintenance = with_database(url, "postgres")
    exists = psql(maintenance, "SELECT count(*) FROM pg_database WHERE datname = :'name'\n", name=database) == "1"
    if exists:
        relations = int(psql(url, USER_RELATIONS + "\n"))
        if relations and not replace:
            raise Fail(
                f"postgres: database {database} is not empty ({relations} tables, views or sequences); "
                "restore into an empty or new database, or pass --replace to drop its objects first"
            )
    return {"url": url, "database": database, "maintenance": maintenance, "exists": exists}


def pg_restore(directory, plan, replace):
    if not plan["exists"]:
        say(f"postgres: creating database {plan['database']}")
        psql(plan["maintenance"], 'CREATE DATABASE :"name"\n', name=plan["database"])
    argv = [pg_tool("pg_restore"), "--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges",
            "--dbname", plan["url"]]
    if replace:
        argv += ["--clean", "--if-exists"]
    run(argv + [os.path.join(directory, "postgres.dump")], "pg_restore into " + redacted(plan["url"]))
    say(f"postgres: restored {plan['database']}")


# ---------------------------------------------------------------- dynamodb


def dynamodb():
    import boto3
    from botocore.config import Config

    url = os.environ.get("DYNAMODB__URL", "http://127.0.0.1:18000")
    options = {
        "region_name": setting("DYNAMODB__REGION", "us-east-1"),
        "config": Config(retries={"max_attempts": 10, "mode": "standard"}, connect_timeout=5, read_timeout=30),
    }
    if url:
        options["endpoint_url"] = url
    key, secret = os.environ.get("DYNAMODB__ACCESS_KEY_ID"), os.environ.get("DYNAMODB__SECRET_ACCESS_KEY")
    # As the app: static keys when given; placeholders for a local endpoint; else the default chain.
    if key and secret:
        options.update(aws_access_key_id=key, aws_secret_access_key=secret)
    elif url:
        options.update(aws_access_key_id="local", aws_secret_access_key="local")
    return boto3.client("dynamodb", **options)


def table_name():
    return setting("DYNAMODB__CHAT_HISTORY_TABLE_NAME", "ChatHistory")


def to_json(value):
    """DynamoDB JSON with binary values as base64 (boto3 gives bytes)."""
    (kind, inner), = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in inner]}
    if kind == "M":
        return {"M": {k: to_json(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [to_json(v) for v in inner]}
    return value


def from_json(value):
    (kind, inner), = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if kind == "M":
        return {"M": {k: from_json(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [from_json(v) for v in inner]}
    return value


def describe(client, name):
    try:
        return client.describe_table(TableName=name)["Table"]
    except client.exceptions.ResourceNotFoundException:
        return None


def dynamodb_backup(directory):
    client, name = dynamodb(), table_name()
    table = describe(client, name)
    if table is None:
        raise Fail(f"dynamodb: table {name} does not exist")
    definition = {
        "KeySchema": table["KeySchema"],
        "AttributeDefinitions": table["AttributeDefinitions"],
        "BillingMode": table.get("BillingModeSummary", {}).get("BillingMode", "PAY_PER_REQUEST"),
    }
    if definition["BillingMode"] == "PROVISIONED":
        throughput = table["ProvisionedThroughput"]
        definition["ProvisionedThroughput"] = {
            "ReadCapacityUnits": throughput["ReadCapacityUnits"],
            "WriteCapacityUnits": throughput["WriteCapacityUnits"],
        }
    if table.get("GlobalSecondaryIndexes") or table.get("LocalSecondaryIndexes"):
        raise Fail(f"dynamodb: table {name} has secondary indexes, which this backup does not recreate")
    write_json(os.path.join(directory, "table.json"), definition)
    path = os.path.join(directory, "dynamodb.jsonl")
    items = 0
    with open(path, "w") as f:
        for page in client.get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
            for item in page["Items"]:
                f.write(json.dumps({k: to_json(v) for k, v in item.items()}, sort_keys=True) + "\n")
                items += 1
        f.flush()
        os.fsync(f.fileno())
    return {"table": name, "file": "dynamodb.jsonl", "items": items, "sha256": sha256(path)}


def dynamodb_plan(replace):
    client, name = dynamodb(), table_name()
    table = describe(client, name)
    if table is not None and not replace:
        page = client.scan(TableName=name, Limit=1, ConsistentRead=True)
        if page["Items"]:
            raise Fail(f"dynamodb: table {name} holds items; restore into a new or empty table, "
                       "or pass --replace to delete and recreate it")
    return {"table": name, "exists": table is not None}


def wait_for(check, what, timeout=120):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise Fail(f"{what} not within {timeout} s")
        time.sleep(0.2)


def dynamodb_restore(directory, plan, replace):
    client, name = dynamodb(), plan["table"]
    if plan["exists"] and replace:
        say(f"dynamodb: deleting table {name} (--replace)")
        client.delete_table(TableName=name)
        wait_for(lambda: describe(client, name) is None, f"dynamodb: deletion of {name}")
    if not plan["exists"] or replace:
        with open(os.path.join(directory, "table.json")) as f:
            definition = json.load(f)
        say(f"dynamodb: creating table {name}")
        client.create_table(TableName=name, **definition)
    wait_for(lambda: (describe(client, name) or {}).get("TableStatus") == "ACTIVE", f"dynamodb: table {name} active")
    items = 0
    batch = []
    with open(os.path.join(directory, "dynamodb.jsonl")) as f:
        for line in f:
            item = {k: from_json(v) for k, v in json.loads(line).items()}
            batch.append({"PutRequest": {"Item": item}})
            if len(batch) == 25:
                items += write_batch(client, name, batch)
                batch = []
    if batch:
        items += write_batch(client, name, batch)
    say(f"dynamodb: imported {items} items into {name}")
    return items


def write_batch(client, name, requests):
    """BatchWriteItem, retrying unprocessed items with backoff."""
    pending, delay = requests, 0.05
    for _ in range(12):
        unprocessed = client.batch_write_item(RequestItems={name: pending}).get("UnprocessedItems", {})
        pending = unprocessed.get(name, [])
        if not pending:
            return len(requests)
        time.sleep(delay)
        delay = min(delay * 2, 5)
    raise Fail(f"dynamodb: {len(pending)} items still unprocessed after 12 attempts (throttled?)")


# ---------------------------------------------------------------- kafka


def kafka_options():
    options = {
        "bootstrap_servers": setting("KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:19092").split(","),
        "security_protocol": setting("KAFKA__SECURITY_PROTOCOL", "plaintext").upper(),
        "request_timeout_ms": 30000,
    }
    if os.environ.get("KAFKA__SSL_CA_LOCATION"):
        options["ssl_cafile"] = os.environ["KAFKA__SSL_CA_LOCATION"]
    if options["security_protocol"].startswith("SASL"):
        options["sasl_mechanism"] = setting("KAFKA__SASL_MECHANISM")
        options["sasl_plain_username"] = setting("KAFKA__SASL_USERNAME")
        options["sasl_plain_password"] = setting("KAFKA__SASL_PASSWORD")
    return options


def kafka_target():
    return setting("TOPICS__MESSAGES__NAME", "chat_messages"), setting("SINK__GROUP_ID", "harmony-sink")


def log_bounds(topic):
    """{partition: (start, end)} of the topic now, or None when it does not exist."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**kafka_options(), enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return None
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        start, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        return {tp.partition: (start[tp], end[tp]) for tp in tps}
    finally:
        consumer.close()


def committed_offsets(topic, group):
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**kafka_options())
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0}


def group_members(group):
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**kafka_options())
    try:
        description = admin.describe_groups([group])[group]
    finally:
        admin.close()
    return len(description["members"])


def kafka_backup():
    topic, group = kafka_target()
    bounds = log_bounds(topic)
    if bounds is None:
        raise Fail(f"kafka: topic {topic} does not exist")
    committed = committed_offsets(topic, group)
    partitions = []
    for p, (start, end) in sorted(bounds.items()):
        # No commit: the sink wrote nothing of this partition yet; replay it from its start.
        partitions.append({"partition": p, "replay_from": committed.get(p, start), "log_start": start, "log_end": end})
    return {"topic": topic, "group": group, "partitions": partitions}


def kafka_plan(recorded, without_log):
    topic, group = kafka_target()
    if topic != recorded["topic"]:
        say(f"kafka: the backup recorded topic {recorded['topic']}; resetting the sink on {topic}")
    deadline_s = int(setting("HARMONY_RESTORE_GROUP_WAIT_SECS", "60"))
    say(f"kafka: waiting for consumer group {group} to have no members (the sink must be stopped)")
    try:
        wait_for(lambda: group_members(group) == 0, f"kafka: group {group} empty", deadline_s)
    except Fail:
        raise Fail(f"kafka: consumer group {group} still has members after {deadline_s} s: "
                   "stop every sink before restoring (it would write into the table and keep its offsets)")
    bounds = log_bounds(topic)
    if bounds is None:
        if not without_log:
            raise Fail(f"kafka: topic {topic} does not exist: the log is gone, so messages acknowledged after the "
                       "backup cannot be replayed; pass --without-log to restore Postgres and the table anyway")
        return {"topic": topic, "group": group, "targets": {}, "ends": {},
                "gaps": [f"topic {topic} does not exist: nothing after the backup is replayed"]}
    recorded_by_partition = {p["partition"]: p["replay_from"] for p in recorded["partitions"]}
    targets, gaps = {}, []
    for p, (start, end) in sorted(bounds.items()):
        want = recorded_by_partition.get(p)
        if want is None:
            targets[p] = start  # a partition added after the backup: all of it is newer
        elif want > end:
            gaps.append(f"partition {p}: the log ends at {end}, before the backup's offset {want} "
                        "(was the topic recreated?); replaying all it holds")
            targets[p] = start
        elif want < start:
            gaps.append(f"partition {p}: offsets {want}..{start - 1} were deleted by retention; "
                        "messages acknowledged then are in neither the backup nor the log")
            targets[p] = start
        else:
            targets[p] = want
    for p in sorted(set(recorded_by_partition) - set(bounds)):
        gaps.append(f"partition {p} no longer exists")
    return {"topic": topic, "group": group, "targets": targets, "ends": {p: e for p, (_, e) in bounds.items()},
            "gaps": gaps}


def kafka_restore(plan):
    if not plan["targets"]:
        return
    from kafka import KafkaAdminClient, TopicPartition
    from kafka.structs import OffsetAndMetadata

    admin = KafkaAdminClient(**kafka_options())
    try:
        # Accepted only while the group has no members (checked in the plan).
        offsets = {TopicPartition(plan["topic"], p): OffsetAndMetadata(o, "", -1) for p, o in plan["targets"].items()}
        results = admin.alter_group_offsets(plan["group"], offsets)
    finally:
        admin.close()
    failed = {tp.partition: error.__name__ for tp, error in results.items() if error.__name__ != "NoError"}
    if failed:
        raise Fail(f"kafka: resetting group {plan['group']} failed for partitions {failed} "
                   "(Postgres and the table are restored; run the restore again with --replace once the sink is stopped)")
    replay = sum(plan["ends"][p] - o for p, o in plan["targets"].items())
    say(f"kafka: group {plan['group']} reset on {plan['topic']}; the sink will replay {replay} records")


# ---------------------------------------------------------------- redis


def redis_flush():
    """Caches hold state newer than the restored stores: empty them."""
    url = setting("REDIS__URL", "redis://127.0.0.1:16379/0")
    argv = [shutil.which("redis-cli") or "redis-cli", "-u", url]
    if url.startswith("rediss://"):
        argv.append("--tls")
        if os.environ.get("REDIS__CA_FILE"):
            argv += ["--cacert", os.environ["REDIS__CA_FILE"]]
    argv.append("FLUSHDB")
    out = run(argv, "redis FLUSHDB").strip()
    if out != "OK":
        raise Fail(f"redis FLUSHDB answered {out!r}")
    say("redis: cache database flushed")


# ---------------------------------------------------------------- commands


def backup(directory):
    if os.path.exists(directory) and os.listdir(directory):
        raise Fail(f"{directory} exists and is not empty; back up into a new directory")
    os.makedirs(directory, exist_ok=True)
    taken_at = datetime.datetime.now(datetime.timezone.utc).isoformat()
    # First: everything below these offsets is in DynamoDB before the scan starts.
    kafka = kafka_backup()
    say(f"kafka: recorded the sink's offsets on {kafka['topic']} ({len(kafka['partitions'])} partitions)")
    postgres = pg_backup(directory)
    say(f"postgres: dumped {postgres['database']}")
    history = dynamodb_backup(directory)
    say(f"dynamodb: scanned {history['items']} items of {history['table']}")
    write_json(os.path.join(directory, "kafka.json"), kafka)
    write_json(os.path.join(directory, "manifest.json"), {
        "format": FORMAT, "taken_at": taken_at, "postgres": postgres, "dynamodb": history,
        "kafka": {"file": "kafka.json", "sha256": sha256(os.path.join(directory, "kafka.json"))},
    })
    say(f"backup complete in {directory}")


def read_manifest(directory):
    path = os.path.join(directory, "manifest.json")
    if not os.path.exists(path):
        raise Fail(f"{directory} has no manifest.json: not a backup, or one that did not finish")
    with open(path) as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT:
        raise Fail(f"{path}: format {manifest.get('format')} (this tool reads format {FORMAT})")
    for part in ("postgres", "dynamodb", "kafka"):
        file = os.path.join(directory, manifest[part]["file"])
        if not os.path.exists(file) or sha256(file) != manifest[part]["sha256"]:
            raise Fail(f"{file} is missing or does not match its checksum in manifest.json")
    return manifest


def restore(directory, replace, without_log):
    manifest = read_manifest(directory)
    with open(os.path.join(directory, "kafka.json")) as f:
        recorded = json.load(f)
    say(f"restoring the backup taken at {manifest['taken_at']}")
    # Every check before any change: a refused restore leaves everything as it was.
    postgres = pg_plan(replace)
    history = dynamodb_plan(replace)
    kafka = kafka_plan(recorded, without_log)
    pg_restore(directory, postgres, replace)
    items = dynamodb_restore(directory, history, replace)
    if items != manifest["dynamodb"]["items"]:
        raise Fail(f"dynamodb: imported {items} items, the backup holds {manifest['dynamodb']['items']}")
    kafka_restore(kafka)
    redis_flush()
    if kafka["gaps"]:
        for gap in kafka["gaps"]:
            say(f"WARNING: kafka: {gap}")
        say("restored, but the log no longer holds every message acknowledged after the backup")
        return EXIT_LOG_GAP
    say("restore complete: start the sink (and the other roles); it replays the log into the table")
    return 0


def main():
    parser = argparse.ArgumentParser(prog="harmony-backup")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("backup").add_argument("dir")
    restore_parser = commands.add_parser("restore")
    restore_parser.add_argument("dir")
    restore_parser.add_argument("--replace", action="store_true",
                                help="drop the database's objects and recreate the table before restoring")
    restore_parser.add_argument("--without-log", action="store_true",
                                help="restore even when the message topic is gone (messages after the backup are lost)")
    args = parser.parse_args()
    try:
        if args.command == "backup":
            backup(args.dir)
            return 0
        return restore(args.dir, args.replace, args.without_log)
    except Fail as error:
        say(f"ERROR: {error}")
        return 1
    except (KafkaError, BotoCoreError, ClientError) as error:
        say(f"ERROR: {type(error).__name__}: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
