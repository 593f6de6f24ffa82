#!/usr/bin/python3
"""A new user's first minutes: `weir server` with no arguments (127.0.0.1:9092, its
controller on 9093, data in ./data), kcat -L, a topic created and filled with
kafka-python, kill -9, a restart on the same directory: the topic and every record are
there, and `weir cluster quorum` describes the lone node as a one-voter KRaft quorum of
the cluster id that Metadata reports (one control plane, one cluster id).

Needs 9092 and 9093 free on 127.0.0.1; the test says so when they are not.

usage: lone_node_test.py path/to/weir
"""

import json
import socket
import subprocess

import harness

TOPIC = "first-steps"
RECORDS = 500


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def kcat_list(kcat):
    p = subprocess.run([kcat, "-L", "-J", "-b", "127.0.0.1:9092"], capture_output=True, timeout=30)
    return json.loads(p.stdout) if p.returncode == 0 else None


def read_all(bootstrap):
    from kafka import KafkaConsumer
    consumer = KafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=5000)
    values = [record.value.decode() for record in consumer]
    consumer.close()
    return values


def quorum(weir):
    p = subprocess.run([weir, "cluster", "quorum"], capture_output=True, timeout=30)
    fields = {}
    for line in p.stdout.decode().splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return p.returncode, fields, p.stderr.decode()


def main():
    weir = harness.weir_binary()
    kcat = harness.require_program("kcat")
    harness.require_module("kafka")
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic
    t = harness.Checks()
    for port in (9092, 9093):
        if not port_free(port):
            t.check(False, f"127.0.0.1:{port} is free for `weir server` with no arguments")
            t.finish()
    server = harness.WeirServer(weir, no_arguments=True)
    try:
        server.start()
        t.equal(server.port, 9092, "with no arguments the node serves on 127.0.0.1:9092")
        listing = kcat_list(kcat)
        t.check(listing is not None and [b["id"] for b in listing["brokers"]] == [1],
                f"kcat -L lists the one broker ({listing})")

        admin = KafkaAdminClient(bootstrap_servers=server.bootstrap, request_timeout_ms=15000)
        admin.create_topics([NewTopic(TOPIC, num_partitions=2, replication_factor=1)])
        producer = KafkaProducer(bootstrap_servers=server.bootstrap, acks="all")
        futures = [producer.send(TOPIC, value=f"record {i}".encode()) for i in range(RECORDS)]
        producer.flush(timeout=60)
        acked = sum(1 for f in futures if f.get(timeout=30) is not None)
        producer.close()
        admin.close()
        t.equal(acked, RECORDS, "kafka-python's records are acknowledged (acks=all)")

        server.crash()
        server.start()
        listing = kcat_list(kcat)
        topics = {x["topic"]: len(x["partitions"]) for x in (listing or {}).get("topics", [])}
        t.equal(topics.get(TOPIC), 2, "after kill -9 and restart, kcat -L lists the topic")
        values = read_all(server.bootstrap)
        t.equal(sorted(values), sorted(f"record {i}" for i in range(RECORDS)),
                "and every acknowledged record is read back once")

        admin = KafkaAdminClient(bootstrap_servers=server.bootstrap, request_timeout_ms=15000)
        metadata_cluster_id = admin.describe_cluster().get("cluster_id")
        admin.close()
        t.equal(metadata_cluster_id, server.cluster_id,
                "Metadata names the cluster the server's ready line names")
        code, fields, stderr = quorum(weir)
        t.check(code == 0, f"weir cluster quorum answers on the lone node ({stderr.strip()})")
        t.equal(fields.get("ClusterId"), metadata_cluster_id,
                "weir cluster quorum reports the cluster id Metadata reports")
        t.equal(fields.get("CurrentVoters"), "[1]", "a one-voter quorum")
        t.equal(fields.get("LeaderId"), "1", "led by the node itself")
        server.stop()
    finally:
        server.cleanup()
    t.finish()


if __name__ == "__main__":
    main()
