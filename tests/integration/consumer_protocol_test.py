#!/usr/bin/python3
"""KIP-848's consumer group protocol (ConsumerGroupHeartbeat v0, ConsumerGroupDescribe
v0) on a real `weir server`, over raw sockets: no client installed here speaks it
(librdkafka 2.0.2, kafka-python 2.0.2 and kafkajs 2.2.4 all predate it), so this test
plays two members by hand, step by step, as Kafka 4.x's consumer would.

- A joins a 4-partition topic and gets all four at the group epoch.
- B joins: B is at the new epoch with nothing; A is asked to give up two and keeps its
  epoch until a heartbeat shows them gone; only then does B get them.
- ConsumerGroupDescribe shows the group Stable with two members of two partitions, and
  ListGroups v5 lists it as a `consumer` group.
- OffsetCommit checks the member epoch (a stale one: ILLEGAL_GENERATION for v7); a
  classic JoinGroup to the group gets INCONSISTENT_GROUP_PROTOCOL; a heartbeat at the
  wrong epoch gets FENCED_MEMBER_EPOCH.
- B leaves and A gets all four back; A then falls silent past
  group.consumer.session.timeout.ms and is told UNKNOWN_MEMBER_ID.

Then weir's own client speaks it (`weir consume --group ... --consumer-property
group.protocol=consumer`): two consumers split a 4-partition topic while records are
produced, every record is printed by one of them, and the group's commits at exit are
the log ends.
"""

import struct
import subprocess
import threading
import time

import harness
import wire

TOPIC = "k"
API_OFFSET_COMMIT, API_FIND_COORDINATOR, API_JOIN_GROUP, API_LIST_GROUPS = 8, 10, 11, 16
API_CONSUMER_GROUP_HEARTBEAT, API_CONSUMER_GROUP_DESCRIBE = 68, 69
ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL, UNKNOWN_MEMBER_ID = 22, 23, 25
FENCED_MEMBER_EPOCH = 110
RETRIABLE = (14, 15, 16)  # the coordinator loading, not available, not this broker


# --- flexible (compact) encoding -------------------------------------------------------
def cstring(s):
    if s is None:
        return wire.uvarint(0)
    b = s.encode()
    return wire.uvarint(len(b) + 1) + b


def carray(items):
    return wire.uvarint(len(items) + 1) + b"".join(items)


TAGS = wire.uvarint(0)


class FlexReader(wire.Reader):
    def uvarint(self):
        shift, value = 0, 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if b < 0x80:
                return value
            shift += 7

    def cstring(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def carray(self, item):
        n = self.uvarint()
        return None if n == 0 else [item(self) for _ in range(n - 1)]

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


def flexible_request(conn, api_key, version, body):
    conn.correlation += 1
    conn.send_raw(wire.frame(api_key, version, conn.correlation, body, header_version=2))
    correlation, data = conn.recv_response(header_version=1)
    assert correlation == conn.correlation
    return FlexReader(data)


def heartbeat(conn, member_id, epoch, owned, subscribe=(TOPIC,), rebalance_timeout=30000):
    """ConsumerGroupHeartbeat v0: (error, member id, epoch, assignment or None). `owned`
    is {topic id: [partitions]} or None."""
    owned_field = wire.uvarint(0) if owned is None else carray(
        [tid + carray([wire.i32(p) for p in sorted(ps)]) + TAGS for tid, ps in owned.items()])
    body = (cstring("cg") + cstring(member_id) + wire.i32(epoch) + cstring(None) + cstring(None)
            + wire.i32(rebalance_timeout)
            + (carray([cstring(t) for t in subscribe]) if subscribe is not None else wire.uvarint(0))
            + cstring(None) + owned_field + TAGS)
    r = flexible_request(conn, API_CONSUMER_GROUP_HEARTBEAT, 0, body)
    r.i32()
    error = r.i16()
    r.cstring()
    member = r.cstring()
    member_epoch, _ = r.i32(), r.i32()
    assignment = None
    if r.i8() >= 0:
        assignment = {}
        for tid, parts in r.carray(lambda x: (x.take(16), x.carray(lambda y: y.i32()), x.tags())[:2]):
            assignment[tid] = set(parts)
        r.tags()
    return error, member, member_epoch, assignment


def describe(conn):
    return describe_group(conn, "cg")


def describe_group(conn, name):
    body = carray([cstring(name)]) + wire.i8(0) + TAGS
    r = flexible_request(conn, API_CONSUMER_GROUP_DESCRIBE, 0, body)
    r.i32()

    def partitions(x):
        out = x.carray(lambda y: (y.take(16), y.cstring(), y.carray(lambda z: z.i32()), y.tags()))
        x.tags()
        return {name: set(ps) for _, name, ps, _ in out}

    def member(x):
        m = {"id": x.cstring()}
        x.cstring()
        x.cstring()
        m["epoch"] = x.i32()
        x.cstring()
        x.cstring()
        m["topics"] = x.carray(lambda y: y.cstring())
        x.cstring()
        m["assignment"] = partitions(x)
        m["target"] = partitions(x)
        x.tags()
        return m

    def group(x):
        g = {"error": x.i16()}
        x.cstring()
        g["id"], g["state"] = x.cstring(), x.cstring()
        g["group_epoch"], g["assignment_epoch"] = x.i32(), x.i32()
        g["assignor"] = x.cstring()
        g["members"] = x.carray(member)
        x.i32()
        x.tags()
        return g

    return r.carray(group)[0]


def count(assignment):
    return sum(len(ps) for ps in (assignment or {}).values())


def main():
    weir = harness.weir_binary()
    t = harness.Checks()
    overrides = ["group.consumer.session.timeout.ms=3000", "group.consumer.heartbeat.interval.ms=1000"]
    with harness.WeirServer(weir, overrides=overrides) as server:
        server.create_topic(TOPIC, partitions=4)
        a, b = wire.Connection(server.port), wire.Connection(server.port)
        for _ in range(300):  # FindCoordinator makes __consumer_offsets; wait for its leader
            a.request(API_FIND_COORDINATOR, 1, wire.string("cg") + wire.i8(0))
            answer = heartbeat(a, "", 0, {})
            if answer[0] not in RETRIABLE:
                break
            time.sleep(0.1)
        error, a_id, a_epoch, a_owned = answer
        t.check(error == 0 and a_id and count(a_owned) == 4,
                f"A joins with epoch 0 and gets all 4 partitions ({answer})")
        error, b_id, b_epoch, b_owned = heartbeat(b, "", 0, {})
        t.check(error == 0 and b_epoch > a_epoch and count(b_owned) == 0,
                f"B joins at a newer epoch ({b_epoch} > {a_epoch}) with nothing yet ({b_owned})")
        error, _, epoch, kept = heartbeat(a, a_id, a_epoch, a_owned)
        t.check(error == 0 and epoch == a_epoch and count(kept) == 2,
                f"A is told to keep 2 and keeps its epoch {a_epoch} until it revokes ({epoch}, {kept})")
        error, _, _, still = heartbeat(b, b_id, b_epoch, b_owned)
        t.check(error == 0 and count(still or b_owned) == 0,
                "B gets nothing while A has not revoked")
        error, _, a_epoch, a_owned2 = heartbeat(a, a_id, a_epoch, kept)
        t.check(error == 0 and a_epoch == b_epoch, f"A, having revoked, moves to epoch {b_epoch}")
        a_owned = a_owned2 or kept
        error, _, _, b_owned = heartbeat(b, b_id, b_epoch, b_owned)
        t.check(error == 0 and count(b_owned) == 2 and not any(
            set(b_owned.get(tid, ())) & set(ps) for tid, ps in a_owned.items()),
            f"then B gets the other 2 ({b_owned} beside A's {a_owned})")

        g = describe(a)
        sizes = sorted(sum(len(ps) for ps in m["assignment"].values()) for m in g["members"])
        t.check(g["error"] == 0 and g["state"] == "Stable" and sizes == [2, 2]
                and g["assignor"] == "uniform" and g["group_epoch"] == g["assignment_epoch"],
                f"ConsumerGroupDescribe: Stable, two members of two, uniform ({g})")
        conn = wire.Connection(server.port)
        lr = flexible_request(conn, API_LIST_GROUPS, 5, carray([]) + carray([]) + TAGS)
        lr.i32()
        lr.i16()
        listed = lr.carray(lambda x: (x.cstring(), x.cstring(), x.cstring(), x.cstring(), x.tags())[:4])
        conn.close()
        t.check(("cg", "consumer", "Stable", "consumer") in listed,
                f"ListGroups v5 lists 'cg' as a Stable consumer group ({listed})")

        def commit(member, epoch):
            part = wire.i32(0) + wire.i64(5) + wire.i32(-1) + wire.string(None)
            body = (wire.string("cg") + wire.i32(epoch) + wire.string(member) + wire.string(None)
                    + wire.array([wire.string(TOPIC) + wire.array([part])]))
            data = a.request(API_OFFSET_COMMIT, 7, body)
            return struct.unpack(">h", data[-2:])[0]

        t.equal(commit(a_id, a_epoch), 0, "OffsetCommit by A at its epoch")
        t.equal(commit(a_id, a_epoch - 1), ILLEGAL_GENERATION,
                "OffsetCommit v7 at a stale epoch: ILLEGAL_GENERATION (STALE_MEMBER_EPOCH from v9)")
        join = (wire.string("cg") + wire.i32(10000) + wire.i32(10000) + wire.string("")
                + wire.string(None) + wire.string("consumer")
                + wire.array([wire.string("range") + wire.i32(0)]))
        t.equal(struct.unpack(">h", b.request(API_JOIN_GROUP, 5, join)[4:6])[0],
                INCONSISTENT_GROUP_PROTOCOL, "a classic JoinGroup to the consumer group: "
                "INCONSISTENT_GROUP_PROTOCOL")
        t.equal(heartbeat(b, b_id, b_epoch + 5, b_owned)[0], FENCED_MEMBER_EPOCH,
                "a heartbeat at an epoch the group never gave: FENCED_MEMBER_EPOCH")

        error, _, leave_epoch, _ = heartbeat(b, b_id, -1, None, subscribe=None)
        t.check(error == 0 and leave_epoch == -1, "B leaves (epoch -1)")
        for _ in range(3):
            error, _, a_epoch, got = heartbeat(a, a_id, a_epoch, a_owned)
            a_owned = got or a_owned
        t.check(error == 0 and count(a_owned) == 4, f"A gets all 4 back ({a_owned})")
        time.sleep(4.5)  # past the 3 s session
        t.equal(heartbeat(a, a_id, a_epoch, a_owned)[0], UNKNOWN_MEMBER_ID,
                "A, silent past its session, is no longer a member: UNKNOWN_MEMBER_ID")
        a.close()
        b.close()
        weir_client(t, weir, server, confluent=harness.require_module("confluent_kafka"))
    t.finish()


def weir_client(t, weir, server, confluent):
    """Two `weir consume` processes in one KIP-848 group."""
    topic, group = "w", "wg"
    server.create_topic(topic, partitions=4)
    producer = confluent.Producer({"bootstrap.servers": server.bootstrap, "acks": "all"})

    def produce(first, count):
        for i in range(first, first + count):
            producer.produce(topic, value=f"v{i}".encode(), partition=i % 4)
        producer.flush(30)

    produce(0, 200)
    printed = [[], []]

    def consume(slot):
        p = subprocess.Popen([weir, "consume", "--bootstrap-server", server.bootstrap, "--topic",
                              topic, "--group", group, "--from-beginning", "--timeout-ms", "8000",
                              "--consumer-property", "group.protocol=consumer"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for line in p.stdout:
            printed[slot].append(line.decode().strip())
        p.wait()
        printed[slot].append(("exit", p.returncode, p.stderr.read().decode(errors="replace")[-500:]))

    first = threading.Thread(target=consume, args=(0,), daemon=True)
    first.start()
    deadline = time.monotonic() + 30
    while len(printed[0]) < 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    t.equal(len(printed[0]), 200, "weir consume (group.protocol=consumer) reads the first 200 alone")
    second = threading.Thread(target=consume, args=(1,), daemon=True)
    second.start()
    conn = wire.Connection(server.port)
    split = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        g = describe_group(conn, group)
        sizes = sorted(sum(len(ps) for ps in m["assignment"].values()) for m in g["members"] or [])
        if g["state"] == "Stable" and sizes == [2, 2]:
            split = g
            break
        time.sleep(0.2)
    t.check(split is not None, f"the second joins and the two own two partitions each ({split})")
    r = subprocess.run([weir, "group", "describe", group, "--members", "--bootstrap-server",
                        server.bootstrap], capture_output=True, timeout=60)
    out = r.stdout.decode(errors="replace")
    rows = [line.split() for line in out.splitlines() if line.startswith(group + " ")]
    t.check(r.returncode == 0 and len(rows) == 2 and all(row[-1].count(",") == 1 for row in rows),
            f"weir group describe --members shows the two members of two partitions:\n{out}")
    produce(200, 200)
    first.join(timeout=60)
    second.join(timeout=60)
    exits = [lines[-1] if lines and isinstance(lines[-1], tuple) else None for lines in printed]
    t.check(all(e is not None and e[1] == 0 for e in exits), f"both exit 0 after 8 s idle ({exits})")
    values = [v for lines in printed for v in lines if isinstance(v, str)]
    t.equal(sorted(set(values)) == sorted(f"v{i}" for i in range(400)), True,
            f"every one of the 400 records was printed by one of them ({len(values)} lines)")
    later = [sum(1 for v in lines if isinstance(v, str) and int(v[1:]) >= 200) for lines in printed]
    t.check(all(n > 0 for n in later), f"both printed records of the second batch ({later})")
    probe = confluent.Consumer({"bootstrap.servers": server.bootstrap, "group.id": group})
    committed = {tp.partition: tp.offset for tp in probe.committed(
        [confluent.TopicPartition(topic, p) for p in range(4)], timeout=30)}
    probe.close()
    t.equal(committed, {p: 100 for p in range(4)}, "the group's commits at exit are the log ends")
    conn.close()


if __name__ == "__main__":
    main()
