#!/usr/bin/python3
"""The group coordinator moves when its broker dies, on real processes: three
controllers and three brokers, `__consumer_offsets` replicated three ways, a
3-partition topic with replication factor 3, and a librdkafka group of two
(rdkafka_member.py, one process each) consuming at least once while a producer writes.

The broker coordinating the group (FindCoordinator) is killed with kill -9. Another
broker leads that `__consumer_offsets` partition, replays it and answers for the group;
the members find it and carry on. Every acknowledged record is consumed at least once,
no commit acknowledged before the kill is lost (the new coordinator's committed offsets
are never below them), and in the end the committed offsets are the log ends. The
killed broker comes back and the coordinator answers there only if it leads again.

Then the same for a KIP-848 group (two `weir consume --consumer-property
group.protocol=consumer` processes): its coordinator is killed with kill -9 and the
new one restores the group from its records in `__consumer_offsets` — the same members
with the same ids at the same group epoch, Stable, no member rejoining — and every
record is printed once.
"""

import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import wire  # noqa: E402
from cluster_test import Node, create_topic, metadata, wait_until  # noqa: E402
from consumer_protocol_test import describe_group  # noqa: E402
from group_rdkafka_test import (Member, Producing, split_among,  # noqa: E402
                                stop_and_check_consumed)
from quorum_test import free_port  # noqa: E402

TOPIC = "rk"  # the name rdkafka_member.py's Member is given by group_rdkafka_test
PARTITIONS = 3
GROUP = "failover"
API_FIND_COORDINATOR = 10


def find_coordinator(port, group):
    """FindCoordinator v1 on a raw socket: (error code, coordinator node id)."""
    try:
        conn = wire.Connection(port, timeout=5)
    except OSError:
        return None
    try:
        data = conn.request(API_FIND_COORDINATOR, 1, wire.string(group) + wire.i8(0))
    except (OSError, ValueError):
        return None
    finally:
        conn.close()
    r = wire.Reader(data)
    r.i32()  # throttle time
    error = r.i16()
    r.string()  # error message
    return error, r.i32()


def kip848_failover(t, weir, confluent, brokers, by_id):
    """Two weir consume members of a KIP-848 group; kill -9 of its coordinator."""
    group = "failover-848"
    bootstrap = ",".join(f"127.0.0.1:{b.port}" for b in brokers)
    producer = confluent.Producer({"bootstrap.servers": bootstrap, "acks": "all"})

    def produce(first, count):
        for i in range(first, first + count):
            producer.produce(TOPIC, value=f"k{i}".encode(), partition=i % PARTITIONS)
        producer.flush(30)

    procs = [subprocess.Popen([weir, "consume", "--bootstrap-server", bootstrap, "--topic", TOPIC,
                               "--group", group, "--timeout-ms", "12000",
                               "--consumer-property", "group.protocol=consumer",
                               "--consumer-property", "auto.offset.reset=latest"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]

    def coordinator():
        for b in brokers:
            if b.process is None or b.process.poll() is not None:
                continue
            a = find_coordinator(b.port, group)
            if a and a[0] == 0 and by_id[a[1]].process.poll() is None:
                return a[1]
        return None

    def stable():
        node = coordinator()
        if node is None:
            return None
        try:
            conn = wire.Connection(by_id[node].port, timeout=5)
            try:
                g = describe_group(conn, group)
            finally:
                conn.close()
        except (OSError, ValueError):
            return None
        sizes = sorted(sum(len(ps) for ps in m["assignment"].values()) for m in g["members"] or [])
        if g["error"] == 0 and g["state"] == "Stable" and sizes == [1, 2]:
            return node, g
        return None

    try:
        formed = wait_until(stable, 60)
        t.check(bool(formed), f"[kip-848] two weir consume members split {PARTITIONS} partitions")
        if not formed:
            return
        old, before = formed
        produce(0, 60)
        ids = sorted(m["id"] for m in before["members"])
        by_id[old].signal(9)
        after = wait_until(lambda: (s := stable()) and s[0] != old and s, 60)
        t.check(bool(after), f"[kip-848] after kill -9 of coordinator {old} another broker "
                             f"coordinates the group, Stable")
        if after:
            g = after[1]
            t.equal((sorted(m["id"] for m in g["members"]), g["group_epoch"]),
                    (ids, before["group_epoch"]),
                    "[kip-848] the new coordinator restored the group: same member ids, same "
                    "group epoch")
        produce(60, 60)
        outs = [p.communicate(timeout=90) for p in procs]
        values = [v for out, _ in outs for v in out.decode().split()]
        t.equal(sorted(values), sorted(f"k{i}" for i in range(120)),
                "[kip-848] every record produced around the failover printed once")
        logs = [err.decode(errors="replace") for _, err in outs]
        t.check(all(p.returncode == 0 for p in procs) and
                not any("rejoining" in log for log in logs),
                f"[kip-848] both exit 0 and neither rejoined ({[log[-300:] for log in logs]})")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def main():
    weir = harness.weir_binary()
    kcat_path = harness.require_program("kcat")
    confluent = harness.require_module("confluent_kafka")
    import confluent_kafka.admin as admin_module
    t = harness.Checks()
    with tempfile.TemporaryDirectory(prefix="weir-group-failover-") as root:
        ports = {n: free_port() for n in range(1, 7)}
        voters = ",".join(f"{n}@127.0.0.1:{ports[n]}" for n in (1, 2, 3))
        controllers = [Node(weir, n, "controller", ports[n], voters, root) for n in (1, 2, 3)]
        brokers = [Node(weir, n, "broker", ports[n], voters, root) for n in (4, 5, 6)]
        for b in brokers:
            with open(b.config, "a") as f:
                f.write("replica.lag.time.max.ms=3000\nreplica.fetch.backoff.ms=200\n"
                        "offsets.topic.num.partitions=3\ngroup.initial.rebalance.delay.ms=200\n")
        by_id = {b.node: b for b in brokers}
        bootstrap = ",".join(f"127.0.0.1:{b.port}" for b in brokers)
        members = []
        producer = None
        try:
            for n in controllers + brokers:
                n.start()
            listed = wait_until(lambda: all(
                (m := metadata(kcat_path, b)) and len(m["brokers"]) == 3 for b in brokers), 60)
            t.check(bool(listed), "three brokers registered and unfenced")
            error = create_topic(admin_module, bootstrap, TOPIC, PARTITIONS, 3)
            t.check(error is None, f"topic with replication factor 3 created ({error})")

            lock = threading.Lock()
            consumed, delivered = set(), set()

            producer = Producing(confluent, bootstrap, PARTITIONS, delivered, lock,
                                 **{"enable.idempotence": True})
            members = [Member(bootstrap, GROUP, "range", None, consumed, lock) for _ in range(2)]
            split = wait_until(lambda: split_among(members, lock, PARTITIONS), 90)
            t.check(split, f"two members split the {PARTITIONS} partitions: "
                           f"{[m.assignment for m in members]}")

            answer = wait_until(lambda: (a := find_coordinator(brokers[0].port, GROUP)) and
                                a[0] == 0 and a, 30)
            t.check(bool(answer), f"FindCoordinator names a coordinator ({answer})")
            old = answer[1]
            time.sleep(2)  # a few commits under the old coordinator

            def committed_now():
                probe = confluent.Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP})
                try:
                    got = probe.committed([confluent.TopicPartition(TOPIC, p)
                                           for p in range(PARTITIONS)], timeout=30)
                    return {tp.partition: tp.offset for tp in got}
                finally:
                    probe.close()

            before = committed_now()
            t.check(all(o > 0 for o in before.values()), f"commits made under broker {old}: {before}")
            by_id[old].signal(9)
            survivors = [b for b in brokers if b.node != old]
            moved = wait_until(lambda: (a := find_coordinator(survivors[0].port, GROUP)) and
                               a[0] == 0 and a[1] != old and a, 60)
            t.check(bool(moved), f"after kill -9 of coordinator {old} another broker coordinates "
                                 f"the group ({moved})")
            after = committed_now()
            t.check(all(after[p] >= before[p] for p in range(PARTITIONS)),
                    f"no commit acknowledged before the kill is lost: {before} -> {after}")
            time.sleep(3)  # the members carry on under the new coordinator
            stop_and_check_consumed(t, "[failover]", producer, delivered, consumed, lock)
            split = wait_until(lambda: split_among(members, lock, PARTITIONS), 30)
            t.check(split, f"the two members still split the partitions: "
                           f"{[m.assignment for m in members]}")
            codes = [m.stop() for m in members]
            t.equal(codes, [0, 0], "the members committed and closed")

            by_id[old].start()
            probe = confluent.Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP + "-probe"})
            try:
                ends = {p: probe.get_watermark_offsets(confluent.TopicPartition(TOPIC, p),
                                                       timeout=30)[1] for p in range(PARTITIONS)}
            finally:
                probe.close()
            t.equal(committed_now(), ends, "the committed offsets are the log ends")
            # The restarted broker answers FindCoordinator like the others.
            back = wait_until(lambda: (a := find_coordinator(by_id[old].port, GROUP)) and
                              a[0] == 0 and a, 60)
            current = find_coordinator(survivors[0].port, GROUP)
            t.check(bool(back) and back == current,
                    f"the restarted broker {old} names the same coordinator as the others "
                    f"({back} vs {current})")
            kip848_failover(t, weir, confluent, brokers, by_id)
        finally:
            if producer is not None:
                producer.stop(timeout=0)
            for m in members:
                if m.proc.poll() is None:
                    m.kill()
            for n in controllers + brokers:
                if n.process is not None and n.process.poll() is None:
                    n.process.kill()
                    n.process.wait()
    t.finish()


if __name__ == "__main__":
    main()
