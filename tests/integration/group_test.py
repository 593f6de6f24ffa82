#!/usr/bin/python3
"""Consumer groups against a real weir server (one node): the group coordinator with
kafka-python, confluent-kafka and kcat. A group consumes and commits, and a later
member of the group resumes where it committed; two members split the partitions; a
restart keeps the committed offsets (the coordinator reloads __consumer_offsets);
JoinGroup with an empty group id gets INVALID_GROUP_ID.

usage: group_test.py path/to/weir
"""

import struct
import subprocess
import threading
import time

import harness
import wire

TOPIC = "orders"
PARTITIONS = 3
API_FIND_COORDINATOR, API_JOIN_GROUP = 10, 11
INVALID_GROUP_ID = 24


def poll_records(consumer, want, timeout_s):
    """kafka-python: polls until `want` records arrived or the time is up."""
    got = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend(records)
    return got


def join_empty_group_id(port):
    """JoinGroup v0 on a raw socket with group id "": the error code answered."""
    conn = wire.Connection(port)
    try:
        body = (wire.string("") + wire.i32(10000) + wire.string("") + wire.string("consumer")
                + wire.array([wire.string("range") + wire.i32(0)]))
        data = conn.request(API_JOIN_GROUP, 0, body)
        (error,) = struct.unpack(">h", data[:2])
        return error
    finally:
        conn.close()


def main():
    weir = harness.weir_binary()
    kafka = harness.require_module("kafka")
    confluent = harness.require_module("confluent_kafka")
    kcat = harness.require_program("kcat")
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    t = harness.Checks()
    # A short initial rebalance delay keeps the test quick; the rest is Kafka's default.
    with harness.WeirServer(weir, overrides=["group.initial.rebalance.delay.ms=200"]) as server:
        b = server.bootstrap
        server.create_topic(TOPIC, partitions=PARTITIONS)
        t.equal(join_empty_group_id(server.port), INVALID_GROUP_ID,
                "JoinGroup with an empty group id: INVALID_GROUP_ID")

        producer = KafkaProducer(bootstrap_servers=b, acks="all", value_serializer=str.encode)
        for i in range(100):
            producer.send(TOPIC, value=f"event {i}", partition=i % PARTITIONS)
        producer.flush(timeout=60)

        # --- (a) a group consumes and commits; the next member resumes there ----------
        def consumer(group, **kwargs):
            return KafkaConsumer(TOPIC, bootstrap_servers=b, group_id=group,
                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                 value_deserializer=bytes.decode, request_timeout_ms=30000,
                                 session_timeout_ms=10000, heartbeat_interval_ms=1000, **kwargs)

        first = consumer("app")
        got = poll_records(first, 100, 90)
        t.equal(len(got), 100, "kafka-python group 'app' reads the 100 records")
        t.equal(sorted(r.value for r in got), sorted(f"event {i}" for i in range(100)),
                "every record once")
        first.commit()
        committed = {p: first.committed(TopicPartition(TOPIC, p)) for p in range(PARTITIONS)}
        t.equal(committed, {0: 34, 1: 33, 2: 33}, "the committed offsets are the log ends")
        first.close()

        second = consumer("app")
        old = poll_records(second, 1, 15)
        t.equal(len(old), 0, "a later member of 'app' reads nothing already committed")
        for i in range(10):
            producer.send(TOPIC, value=f"late {i}", partition=i % PARTITIONS)
        producer.flush(timeout=60)
        late = poll_records(second, 10, 60)
        t.equal(sorted(r.value for r in late), sorted(f"late {i}" for i in range(10)),
                "... and then exactly the records produced after the commit")
        second.commit()
        second.close()

        admin = KafkaAdminClient(bootstrap_servers=b, request_timeout_ms=30000)
        listed = {g[0]: g[1] for g in admin.list_consumer_groups()}
        t.equal(listed.get("app"), "consumer", "ListGroups names 'app' with protocol type consumer")
        described = admin.describe_consumer_groups(["app"])[0]
        t.equal((described.state, described.protocol_type, len(described.members)),
                ("Empty", "consumer", 0), "DescribeGroups: 'app' is Empty once its members left")
        fetched = admin.list_consumer_group_offsets("app")
        t.equal({tp.partition: o.offset for tp, o in fetched.items()}, {0: 38, 1: 36, 2: 36},
                "OffsetFetch of every partition (the admin's) gives the commits")

        # --- (b) two members split the partitions ---------------------------------------
        # Each member polls in its own thread: a kafka-python consumer rejoins a
        # rebalance only from poll(), and poll() blocks until its own join completes.
        stop = threading.Event()
        assignments = {}

        def member(name):
            c = consumer("split")
            try:
                while not stop.is_set():
                    c.poll(timeout_ms=200)
                    assignments[name] = {p.partition for p in c.assignment()}
            finally:
                c.close()

        threads = [threading.Thread(target=member, args=(name,), daemon=True) for name in ("one", "two")]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 90
        split = False
        while time.monotonic() < deadline and not split:
            time.sleep(0.2)
            a, c = assignments.get("one", set()), assignments.get("two", set())
            split = bool(a) and bool(c) and not (a & c) and len(a | c) == PARTITIONS
        t.check(split, f"two kafka-python members split the {PARTITIONS} partitions: {assignments}")
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

        # --- (c) confluent-kafka -----------------------------------------------------------
        ck = confluent.Consumer({"bootstrap.servers": b, "group.id": "ck",
                                 "auto.offset.reset": "earliest", "enable.auto.commit": False})
        ck.subscribe([TOPIC])
        count = 0
        deadline = time.monotonic() + 90
        while count < 110 and time.monotonic() < deadline:
            message = ck.poll(0.5)
            if message is not None and message.error() is None:
                count += 1
        t.equal(count, 110, "confluent-kafka group 'ck' reads the 110 records")
        ck.commit(asynchronous=False)
        offsets = ck.committed([confluent.TopicPartition(TOPIC, p) for p in range(PARTITIONS)],
                               timeout=30)
        t.equal(sum(tp.offset for tp in offsets), 110, "confluent-kafka's commit holds")
        ck.close()

        # DeleteGroups: an Empty group goes, with its offsets (tombstones, checked again
        # after the restart below).
        deleted = dict(admin.delete_consumer_groups(["ck"]))
        t.equal(getattr(deleted.get("ck"), "errno", deleted.get("ck")), 0, "DeleteGroups 'ck'")
        t.check("ck" not in {g[0] for g in admin.list_consumer_groups()}, "'ck' is no longer listed")
        admin.close()

        # Metadata does not auto-create internal (`__`) topics.
        conn = wire.Connection(server.port)
        topics = wire.parse_metadata_response(conn.request(3, 8, wire.metadata_body(["__mine"], 8)), 8)
        conn.close()
        t.equal(topics.get("__mine", (None,))[0], 3,
                "Metadata for '__mine' with auto-creation on: UNKNOWN_TOPIC_OR_PARTITION, not created")

        # --- (d) kcat's balanced consumer ----------------------------------------------------
        try:
            r = subprocess.run([kcat, "-b", b, "-G", "kc", TOPIC, "-X", "auto.offset.reset=earliest",
                                "-c", "110", "-q", "-f", "%s\n"],
                               capture_output=True, timeout=90)
            lines = r.stdout.decode(errors="replace").splitlines()
            t.equal(len(lines), 110, f"kcat -G reads the 110 records (exit {r.returncode})")
        except subprocess.TimeoutExpired:
            t.check(False, "kcat -G finished within 90 s")

        # --- (e) a restart keeps the committed offsets ------------------------------------
        producer.close(timeout=10)
        server.restart()
        b = server.bootstrap
        after = consumer("app")
        committed = {p: after.committed(TopicPartition(TOPIC, p)) for p in range(PARTITIONS)}
        t.equal(committed, {0: 38, 1: 36, 2: 36},
                "after a restart the coordinator reloaded 'app''s committed offsets")
        t.equal(len(poll_records(after, 1, 15)), 0, "... and the group reads nothing old")
        after.close()
        admin = KafkaAdminClient(bootstrap_servers=b, request_timeout_ms=30000)
        listed = {g[0] for g in admin.list_consumer_groups()}
        t.check("app" in listed and "kc" in listed and "ck" not in listed,
                f"after the restart 'app' and 'kc' are listed, the deleted 'ck' is not: {sorted(listed)}")
        admin.close()
    t.finish()


if __name__ == "__main__":
    main()
