#!/usr/bin/python3
"""confluent-kafka (librdkafka) AdminClient against a real weir server: create,
describe, create_partitions, delete_records (AdminClient.delete_records, or a raw DeleteRecords
request when the binding predates it), delete topics;
a Producer/Consumer round trip checks what the admin calls did to the data.

usage: confluent_admin_test.py path/to/weir
"""

import time

import harness


def result(futures, name, timeout=30):
    """(ok, error) of one admin future."""
    try:
        futures[name].result(timeout=timeout)
        return True, None
    except Exception as e:  # confluent_kafka.KafkaException wraps a KafkaError
        err = e.args[0] if e.args else e
        return False, err


def main():
    weir = harness.weir_binary()
    ck = harness.require_module("confluent_kafka")
    from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic
    t = harness.Checks()
    print(f"confluent-kafka {ck.version()[0]}, librdkafka {ck.libversion()[0]}")
    with harness.WeirServer(weir, overrides=["auto.create.topics.enable=false"]) as server:
        b = server.bootstrap
        admin = AdminClient({"bootstrap.servers": b})

        # --- create --------------------------------------------------------------------
        fs = admin.create_topics([NewTopic("ck-orders", num_partitions=2, replication_factor=1,
                                           config={"retention.ms": "86400000"}),
                                  NewTopic("ck-doomed", num_partitions=1, replication_factor=1),
                                  NewTopic("bad/name", num_partitions=1, replication_factor=1)],
                                 operation_timeout=15)
        t.check(result(fs, "ck-orders")[0], f"create ck-orders ({result(fs, 'ck-orders')[1]})")
        t.check(result(fs, "ck-doomed")[0], "create ck-doomed")
        ok, err = result(fs, "bad/name")
        t.check(not ok and err.code() == 17,
                f"create 'bad/name' fails with INVALID_TOPIC_EXCEPTION (17) ({err})")
        fs = admin.create_topics([NewTopic("ck-orders", num_partitions=2, replication_factor=1)])
        ok, err = result(fs, "ck-orders")
        t.check(not ok and err.code() == 36,
                f"creating ck-orders again fails with TOPIC_ALREADY_EXISTS (36) ({err})")
        fs = admin.create_topics([NewTopic("ck-rf3", num_partitions=1, replication_factor=3)])
        ok, err = result(fs, "ck-rf3")
        t.check(not ok and err.code() == 38,
                f"replication factor 3 on one node fails with INVALID_REPLICATION_FACTOR (38) ({err})")

        # --- describe ------------------------------------------------------------------
        md = admin.list_topics(timeout=10)
        t.check({"ck-orders", "ck-doomed"} <= set(md.topics), "list_topics shows the created topics")
        t.check("bad/name" not in md.topics and "ck-rf3" not in md.topics, "failed creates left nothing")
        orders = md.topics["ck-orders"]
        t.equal(sorted(orders.partitions), [0, 1], "ck-orders has partitions 0 and 1")
        t.check(all(p.leader == 1 and p.replicas == [1] and p.isrs == [1] for p in orders.partitions.values()),
                "ck-orders partitions: leader 1, replicas [1], isr [1]")
        t.equal(list(md.brokers), [1], "one broker, id 1")
        if hasattr(admin, "describe_topics"):
            print("(describe_topics present: not exercised beyond list_topics)")
        res = ConfigResource(ConfigResource.Type.TOPIC, "ck-orders")
        try:
            configs = admin.describe_configs([res])[res].result(timeout=15)
            t.equal(configs["retention.ms"].value, "86400000", "describe_configs: retention.ms as created")
            t.check("cleanup.policy" in configs, "describe_configs lists defaults (cleanup.policy)")
        except Exception as e:
            t.check(False, f"describe_configs ck-orders: {e}")

        # --- data before the partition change -----------------------------------------
        p = Producer({"bootstrap.servers": b, "acks": "all", "linger.ms": 5})
        delivered = []
        for i in range(100):
            p.produce("ck-orders", key=f"k{i}", value=f"v{i}", partition=i % 2,
                      on_delivery=lambda err, msg: delivered.append((err, msg.partition(), msg.offset())))
        p.flush(30)
        t.check(len(delivered) == 100 and all(e is None for e, _, _ in delivered), "100 records delivered")

        # --- create_partitions ---------------------------------------------------------
        fs = admin.create_partitions([NewPartitions("ck-orders", 4)], operation_timeout=15)
        t.check(result(fs, "ck-orders")[0], f"create_partitions ck-orders -> 4 ({result(fs, 'ck-orders')[1]})")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            parts = admin.list_topics("ck-orders", timeout=10).topics["ck-orders"].partitions
            if len(parts) == 4:
                break
            time.sleep(0.2)
        t.equal(sorted(parts), [0, 1, 2, 3], "ck-orders now has 4 partitions")
        fs = admin.create_partitions([NewPartitions("ck-orders", 2)])
        ok, err = result(fs, "ck-orders")
        t.check(not ok and err.code() == 37,
                f"shrinking to 2 partitions fails with INVALID_PARTITIONS (37) ({err})")
        delivered.clear()
        p.flush(10)
        p = Producer({"bootstrap.servers": b, "acks": "all", "linger.ms": 5})  # sees 4 partitions
        for i in range(20):
            p.produce("ck-orders", value=f"new{i}", partition=3,
                      on_delivery=lambda err, msg: delivered.append((err, msg.partition(), msg.offset())))
        p.flush(30)
        t.equal(sorted(o for _, _, o in delivered), list(range(20)), "new partition 3 takes offsets 0..19")

        # --- delete_records ------------------------------------------------------------
        c = Consumer({"bootstrap.servers": b, "group.id": "unused", "enable.auto.commit": False})
        if hasattr(admin, "delete_records"):
            fs = admin.delete_records([TopicPartition("ck-orders", 0, 30)])
            try:
                for f in fs.values():
                    f.result(timeout=15)
            except Exception as e:
                t.check(False, f"delete_records: {e}")
        else:
            # This binding predates AdminClient.delete_records (confluent-kafka 2.4): send
            # the request by hand and let librdkafka observe the result.
            print("(this confluent-kafka has no AdminClient.delete_records: sent on a raw socket)")
            import wire
            conn = wire.Connection(server.port)
            answer = wire.parse_delete_records_response(
                conn.request(wire.API_DELETE_RECORDS, 1, wire.delete_records_body("ck-orders", 0, 30)))
            t.equal(answer, {("ck-orders", 0): (0, 30)}, "DeleteRecords(p0, 30): no error, low watermark 30")
            answer = wire.parse_delete_records_response(
                conn.request(wire.API_DELETE_RECORDS, 1, wire.delete_records_body("ck-orders", 0, 51)))
            t.equal(answer.get(("ck-orders", 0), (None,))[0], 1,
                    "DeleteRecords beyond the high watermark: OFFSET_OUT_OF_RANGE (1)")
            conn.close()
        low, high = c.get_watermark_offsets(TopicPartition("ck-orders", 0), timeout=10)
        t.equal((low, high), (30, 50), "partition 0 watermarks after DeleteRecords: (30, 50)")
        low, high = c.get_watermark_offsets(TopicPartition("ck-orders", 1), timeout=10)
        t.equal((low, high), (0, 50), "partition 1 watermarks (0, 50)")

        # --- consume a partition by assignment ---------------------------------------------
        c.assign([TopicPartition("ck-orders", 1, 0)])
        values = []
        deadline = time.monotonic() + 20
        while len(values) < 50 and time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is not None and m.error() is None:
                values.append((m.offset(), m.key(), m.value()))
        c.close()
        t.equal(values, [(o, f"k{2 * o + 1}".encode(), f"v{2 * o + 1}".encode()) for o in range(50)],
                "partition 1 reads back its 50 records in order")

        c = Consumer({"bootstrap.servers": b, "group.id": "unused", "enable.auto.commit": False,
                      "auto.offset.reset": "earliest"})
        c.assign([TopicPartition("ck-orders", 0, -2)])  # OFFSET_BEGINNING
        first = None
        deadline = time.monotonic() + 20
        while first is None and time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is not None and m.error() is None:
                first = (m.offset(), m.value())
        c.close()
        t.equal(first, (30, b"v60"), "partition 0 read from the beginning starts at offset 30")

        # --- delete ----------------------------------------------------------------------
        fs = admin.delete_topics(["ck-doomed"], operation_timeout=15)
        t.check(result(fs, "ck-doomed")[0], "delete ck-doomed")
        deadline = time.monotonic() + 10
        while "ck-doomed" in admin.list_topics(timeout=10).topics and time.monotonic() < deadline:
            time.sleep(0.2)
        t.check("ck-doomed" not in admin.list_topics(timeout=10).topics, "ck-doomed is gone")
        fs = admin.delete_topics(["ck-doomed"])
        ok, err = result(fs, "ck-doomed")
        t.check(not ok and err.code() == 3,
                f"deleting it again fails with UNKNOWN_TOPIC_OR_PARTITION (3) ({err})")
        server.stop()
    t.finish()


if __name__ == "__main__":
    main()
