#!/usr/bin/python3
"""A data directory written by an older weir, whose lone node kept its topics in its own
file (weir-meta/topics) outside the metadata log, is adopted at the first start: its
topics become metadata records under their old ids, their logs are kept, producer ids
move past the old node's, meta.properties gets the quorum's cluster id, and weir-meta/
goes. A directory of this layout naming another cluster is refused with a message.

The old directory is made from a new one: a topic is created and filled, then the
metadata log is removed and the old files are written as the older weir wrote them.

usage: upgrade_test.py path/to/weir
"""

import os
import re
import shutil
import struct

import harness
import wire

TOPIC = "legacy"
PARTITIONS = 2
RECORDS = 100
OLD_NEXT_PRODUCER_ID = 7000
API_INIT_PRODUCER_ID = 22


def produce(bootstrap):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    for i in range(RECORDS):
        p.produce(TOPIC, value=f"v{i}".encode(), partition=i % PARTITIONS)
    return p.flush(30)


def read_all(bootstrap):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    values = set()
    for _ in range(30):
        for m in c.consume(1000, 1.0):
            if m.error() is None:
                values.add(m.value().decode())
        if len(values) >= RECORDS:
            break
    c.close()
    return values


def producer_id(port):
    conn = wire.Connection(port)
    try:
        data = conn.request(API_INIT_PRODUCER_ID, 0, wire.i16(-1) + wire.i32(60000))
    finally:
        conn.close()
    _throttle, error, pid, _epoch = struct.unpack(">ihqh", data[:16])
    return error, pid


def write_old_layout(data_dir, topic_id):
    shutil.rmtree(os.path.join(data_dir, "__cluster_metadata-0"))
    meta = os.path.join(data_dir, "meta.properties")
    with open(meta) as f:
        lines = [l for l in f.read().splitlines() if not l.startswith("weir.layout=")]
    lines = [("cluster.id=Zm9yZ290dGVuLXJhbmRvbQ" if l.startswith("cluster.id=") else l) for l in lines]
    with open(meta, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.makedirs(os.path.join(data_dir, "weir-meta"))
    text = "# weir topics v2: <name> <id> <partitions> [<key>=<value> ...]\n"
    text += f"{TOPIC} {topic_id} {PARTITIONS} retention.ms=86400000\n"
    text += f"# crc32c {wire.crc32c(text.encode())}\n"
    with open(os.path.join(data_dir, "weir-meta", "topics"), "w") as f:
        f.write(text)
    with open(os.path.join(data_dir, "weir-meta", "producer-ids"), "w") as f:
        f.write(f"0\n{OLD_NEXT_PRODUCER_ID}\n")


def topic_id_of(data_dir):
    with open(os.path.join(data_dir, f"{TOPIC}-0", "partition.metadata")) as f:
        return re.search(r"topic_id: (\S+)", f.read()).group(1)


def meta_cluster_id(data_dir):
    with open(os.path.join(data_dir, "meta.properties")) as f:
        return re.search(r"cluster\.id=(\S+)", f.read()).group(1)


def main():
    weir = harness.weir_binary()
    harness.require_module("confluent_kafka")
    t = harness.Checks()
    server = harness.WeirServer(weir)
    try:
        server.start()
        server.create_topic(TOPIC, partitions=PARTITIONS)
        t.equal(produce(server.bootstrap), 0, f"{RECORDS} records produced")
        server.stop()
        topic_id = topic_id_of(server.data_dir)
        write_old_layout(server.data_dir, topic_id)

        server.start()
        stderr = server.stderr_text()
        t.check("adopted 1 topic(s) from weir-meta/topics" in stderr,
                f"the start says it adopted the topic ({stderr[-300:]!r})")
        t.check(not os.path.exists(os.path.join(server.data_dir, "weir-meta")), "weir-meta/ is gone")
        t.equal(topic_id_of(server.data_dir), topic_id, "the partition keeps its topic id")
        t.equal(meta_cluster_id(server.data_dir), server.cluster_id,
                "meta.properties names the cluster Metadata reports")
        t.equal(len(read_all(server.bootstrap)), RECORDS, "every record is readable after adoption")
        error, pid = producer_id(server.port)
        t.check(error == 0 and pid >= OLD_NEXT_PRODUCER_ID,
                f"a new producer id ({pid}, error {error}) is past the old node's ({OLD_NEXT_PRODUCER_ID})")

        server.crash()
        server.start()
        t.equal(len(read_all(server.bootstrap)), RECORDS, "after kill -9 and restart, every record")
        server.stop()

        meta = os.path.join(server.data_dir, "meta.properties")
        with open(meta) as f:
            text = f.read()
        with open(meta, "w") as f:
            f.write(re.sub(r"cluster\.id=\S+", "cluster.id=c29tZS1vdGhlci1jbHVzdGVy", text))
        try:
            server.start()
            t.check(False, "a directory of another cluster is refused")
        except RuntimeError as refused:
            t.check("belongs to cluster c29tZS1vdGhlci1jbHVzdGVy" in str(refused),
                    f"a directory of another cluster is refused, naming it ({str(refused)[-200:]!r})")
    finally:
        server.cleanup()
    t.finish()


if __name__ == "__main__":
    main()
