#!/usr/bin/python3
"""kafka-python against a real weir server, following Kafka's quickstart: an admin
creates a topic, a producer sends keyed records (acks=all, acks=1, gzip), a consumer
reads from earliest; ListOffsets by timestamp (offsets_for_times), beginning and end
offsets; the admin deletes the topic.

usage: kafka_python_test.py path/to/weir
"""

import time

import harness


def main():
    weir = harness.weir_binary()
    kafka = harness.require_module("kafka")
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic
    t = harness.Checks()
    with harness.WeirServer(weir, overrides=["auto.create.topics.enable=false"]) as server:
        b = server.bootstrap

        # --- admin: create ------------------------------------------------------------
        admin = KafkaAdminClient(bootstrap_servers=b, client_id="quickstart-admin", request_timeout_ms=15000)
        admin.create_topics([NewTopic("quickstart-events", num_partitions=3, replication_factor=1),
                             NewTopic("quickstart-times", num_partitions=1, replication_factor=1)])
        t.check({"quickstart-events", "quickstart-times"} <= set(admin.list_topics()),
                "admin.list_topics shows the created topics")
        described = {d["topic"]: d for d in admin.describe_topics(["quickstart-events"])}
        t.equal(sorted(p["partition"] for p in described["quickstart-events"]["partitions"]), [0, 1, 2],
                "admin.describe_topics: 3 partitions")
        try:
            admin.create_topics([NewTopic("quickstart-events", num_partitions=1, replication_factor=1)])
            t.check(False, "creating an existing topic fails")
        except kafka.errors.TopicAlreadyExistsError:
            t.check(True, "creating an existing topic fails with TopicAlreadyExistsError (36)")

        # --- producers: acks=all + gzip, acks=1 ----------------------------------------
        sent = {}  # (partition, offset) -> (key, value)
        for acks, compression, n in (("all", "gzip", 3000), (1, None, 2000)):
            producer = KafkaProducer(bootstrap_servers=b, acks=acks, compression_type=compression,
                                     linger_ms=5, key_serializer=str.encode, value_serializer=str.encode)
            futures = []
            for i in range(n):
                key, value = f"user-{i % 17}", f"acks={acks} event {i}"
                futures.append((key, value, producer.send("quickstart-events", key=key, value=value,
                                                          headers=[("acks", str(acks).encode())])))
            producer.flush(timeout=60)
            ok = True
            for key, value, f in futures:
                md = f.get(timeout=30)
                if (md.partition, md.offset) in sent:
                    ok = False
                sent[(md.partition, md.offset)] = (key, value, acks)
            t.check(ok, f"acks={acks} compression={compression}: {n} acknowledged at distinct offsets")
            producer.close()
        partition_of_key = {}
        for (p, _), (key, _, _) in sent.items():
            partition_of_key.setdefault(key, set()).add(p)
        t.check(all(len(s) == 1 for s in partition_of_key.values()), "the same key always lands on one partition")

        # --- consumer from earliest ------------------------------------------------------
        consumer = KafkaConsumer("quickstart-events", bootstrap_servers=b, group_id=None,
                                 auto_offset_reset="earliest", consumer_timeout_ms=5000,
                                 key_deserializer=bytes.decode, value_deserializer=bytes.decode)
        got = {}
        for record in consumer:
            got[(record.partition, record.offset)] = (record.key, record.value, dict(record.headers))
            if len(got) >= len(sent):
                break
        consumer.close()
        t.equal(len(got), len(sent), "the consumer from earliest reads every acknowledged record")
        t.check(all(got.get(k, (None,))[:2] == v[:2] for k, v in sent.items()),
                "every record is at its acknowledged (partition, offset) with its key and value")
        t.check(all(got[k][2] == {"acks": str(v[2]).encode()} for k, v in sent.items() if k in got),
                "headers round trip")

        # --- beginning/end offsets ----------------------------------------------------
        probe = KafkaConsumer(bootstrap_servers=b, group_id=None)
        tps = [TopicPartition("quickstart-events", p) for p in range(3)]
        begin = probe.beginning_offsets(tps)
        end = probe.end_offsets(tps)
        t.equal({tp.partition: o for tp, o in begin.items()}, {0: 0, 1: 0, 2: 0}, "beginning_offsets")
        t.equal({tp.partition: o for tp, o in end.items()},
                {p: sum(1 for (q, _) in sent if q == p) for p in range(3)}, "end_offsets = records per partition")

        # --- offsets_for_times ---------------------------------------------------------
        base = int(time.time() * 1000) - 3_600_000  # an hour ago: timestamps set by the producer
        producer = KafkaProducer(bootstrap_servers=b, acks="all", linger_ms=0)
        for i in range(10):
            producer.send("quickstart-times", value=f"t{i}".encode(), timestamp_ms=base + i * 1000).get(timeout=30)
        producer.close()
        tp = TopicPartition("quickstart-times", 0)
        found = probe.offsets_for_times({tp: base + 5500})[tp]
        t.check(found is not None and found.offset == 6 and found.timestamp == base + 6000,
                f"offsets_for_times(base+5.5s) = offset 6 at base+6s ({found})")
        found = probe.offsets_for_times({tp: base})[tp]
        t.check(found is not None and found.offset == 0 and found.timestamp == base,
                f"offsets_for_times(base) = offset 0 ({found})")
        found = probe.offsets_for_times({tp: base - 10})[tp]
        t.check(found is not None and found.offset == 0, f"offsets_for_times(before all) = offset 0 ({found})")
        found = probe.offsets_for_times({tp: base + 60_000})[tp]
        t.check(found is None, f"offsets_for_times(after all) = None ({found})")
        probe.close()

        # --- seek-and-read by assignment -----------------------------------------------
        c2 = KafkaConsumer(bootstrap_servers=b, group_id=None, consumer_timeout_ms=3000)
        c2.assign([tp])
        c2.seek(tp, 7)
        values = [r.value for r in c2]
        t.equal(values, [b"t7", b"t8", b"t9"], "assign + seek(7) reads offsets 7..9")
        c2.close()

        # --- admin: delete --------------------------------------------------------------
        admin.delete_topics(["quickstart-times"], timeout_ms=15000)
        deadline = time.monotonic() + 15
        while "quickstart-times" in admin.list_topics() and time.monotonic() < deadline:
            time.sleep(0.2)
        t.check("quickstart-times" not in admin.list_topics(), "delete_topics removes the topic")
        try:
            admin.delete_topics(["quickstart-times"], timeout_ms=5000)
            t.check(False, "deleting a missing topic fails")
        except kafka.errors.UnknownTopicOrPartitionError:
            t.check(True, "deleting a missing topic fails with UnknownTopicOrPartitionError (3)")
        admin.close()
        server.stop()
    t.finish()


if __name__ == "__main__":
    main()
