"""kafka-python (pinned in scripts/test.sh) against a private harmony-broker:
a group of three members sharing partitions, the admin calls, offsets for
timestamps and batched FindCoordinator v4 (KIP-699). Run by
app/broker/tests/python.rs; exits non-zero (an AssertionError) on any
difference from what Apache Kafka answers."""

import sys
import threading
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.protocol.metadata import FindCoordinatorRequest

bootstrap = sys.argv[1]
TOPIC, TIMES, GROUP = "py-shared", "py-times", "py-group"
RECORDS = 600


def wait_for(condition, what, timeout=60, state=lambda: ""):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {state()}"
        time.sleep(0.05)


admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="py-admin")
# The broker advertises FindCoordinator v4, so every coordinator look-up below
# (the members' and the admin's) is a batched v4 request.
assert admin._manager.broker_version_data.api_version(FindCoordinatorRequest) == 4
admin.create_topics([NewTopic(TOPIC, 6, 1), NewTopic(TIMES, 1, 1)])

# Admin: list_topics and describe_topics ask for authorized operations.
assert {TOPIC, TIMES} <= set(admin.list_topics()), admin.list_topics()
(described,) = admin.describe_topics([TOPIC])
assert described["name"] == TOPIC and described["error_code"] == 0, described
assert sorted(p["partition_index"] for p in described["partitions"]) == list(range(6)), described
operations = set(described["authorized_operations"])
assert {"READ", "WRITE", "DESCRIBE"} <= operations, operations
print("admin topics ok:", sorted(operations))

producer = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
for i in range(RECORDS):
    producer.send(TOPIC, key=str(i % 17).encode(), value=str(i).encode())
producer.flush()

# Three members of one group: each gets two of the six partitions, and
# together they read every record once, committing as they go.
stop = threading.Event()
seen, assignments, lock = [], {}, threading.Lock()


# kafka-python 3.0.12 sometimes stops a consumer's group loop after a
# successful SyncGroup answer (seen about once in eight runs on a loaded
# machine: the client logged the answer, error 0, then neither enabled its
# heartbeat nor took the assignment; the broker rightly expired it after its
# session timeout). A member without partitions for this long is such a
# stalled client, never a broker answer (three members, six partitions), so
# it is replaced by a fresh one; the group must still end up as asserted.
STALLED_AFTER = 15


def member(name):
    while not stop.is_set():
        consume_until_stalled(name)


def consume_until_stalled(name):
    consumer = KafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id=GROUP,
        client_id=name,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=10000,
        heartbeat_interval_ms=500,
    )
    last_assigned = time.monotonic()
    while not stop.is_set():
        batches = consumer.poll(timeout_ms=200)
        assigned = sorted(tp.partition for tp in consumer.assignment())
        with lock:
            assignments[name] = assigned
            for records in batches.values():
                seen.extend(int(r.value) for r in records)
        if batches:
            consumer.commit()
        if assigned:
            last_assigned = time.monotonic()
        elif time.monotonic() - last_assigned > STALLED_AFTER:
            print(f"{name}: no partitions for {STALLED_AFTER} s; replacing the stalled client")
            break
    consumer.close()


members = [
    threading.Thread(target=member, args=(f"member-{i}",), daemon=True) for i in range(3)
]
for thread in members:
    thread.start()


def shared():
    with lock:
        parts = [p for ps in assignments.values() for p in ps]
        return (
            len(assignments) == 3
            and all(len(ps) == 2 for ps in assignments.values())
            and sorted(parts) == list(range(6))
            and len(set(seen)) == RECORDS
        )


try:
    wait_for(
        shared,
        "three members sharing six partitions and every record read",
        state=lambda: f"assignments {assignments}, {len(set(seen))} of {RECORDS} records seen",
    )
except AssertionError:
    stop.set()
    raise
print("group ok:", assignments)

# Admin: the live group. Two groups in one describe: one batched
# FindCoordinator v4 for both; authorized operations asked for.
try:
    groups = admin.describe_groups([GROUP, "py-nobody"], include_authorized_operations=True)
    live = groups[GROUP]
    assert live["group_state"] == "Stable", live
    assert len(live["members"]) == 3, live
    assert live["protocol_type"] == "consumer", live
    assert set(live["authorized_operations"]) == {"READ", "DELETE", "DESCRIBE"}, live
    assert groups["py-nobody"]["group_state"] == "Dead", groups["py-nobody"]
    listed = {g["group_id"]: g for g in admin.list_groups()}
    assert listed[GROUP]["protocol_type"] == "consumer", listed
    committed = admin.list_group_offsets({GROUP: None})[GROUP]
    assert sum(o.offset for o in committed.values()) == RECORDS, committed
finally:
    stop.set()
    for thread in members:
        thread.join()
empty = admin.describe_groups([GROUP])[GROUP]
assert empty["group_state"] == "Empty" and not empty["members"], empty
print("admin groups ok")

# Offsets for timestamps: three batches at 1000, 2000 and 3000 ms.
for timestamp in (1000, 2000, 3000):
    producer.send(TIMES, value=b"t", timestamp_ms=timestamp)
    producer.flush()
consumer = KafkaConsumer(bootstrap_servers=bootstrap)
tp = TopicPartition(TIMES, 0)
found = consumer.offsets_for_times({tp: 1500})[tp]
assert (found.offset, found.timestamp) == (1, 2000), found
found = consumer.offsets_for_times({tp: 3000})[tp]
assert (found.offset, found.timestamp) == (2, 3000), found
assert consumer.offsets_for_times({tp: 3001})[tp] is None
assert consumer.beginning_offsets([tp])[tp] == 0
assert consumer.end_offsets([tp])[tp] == 3
consumer.close()
producer.close()
admin.close()
print("timestamps ok")
