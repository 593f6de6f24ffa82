#!/usr/bin/python3
"""Bad group requests on raw sockets against a real `weir server` (group.max.size=2):
each gets the error code a Kafka client expects, and other groups keep working.

- JoinGroup of a member whose protocol type differs from its group's, or with no
  protocols at all: INCONSISTENT_GROUP_PROTOCOL (23);
- a third member of a group already at group.max.size: GROUP_MAX_SIZE_REACHED (81), which
  Kafka answers before it looks at the protocols (a group at its size takes no one new);
- OffsetCommit with a generation the group has left behind: ILLEGAL_GENERATION (22),
  and with a member id the group does not know: UNKNOWN_MEMBER_ID (25);
- a static member (KIP-345) replaced by a new incarnation of its group.instance.id: the
  old incarnation's Heartbeat and OffsetCommit get FENCED_INSTANCE_ID (82);
- a client's Produce to `__consumer_offsets`: INVALID_TOPIC_EXCEPTION (17).

Then the group's own member still heartbeats and commits, nothing it committed changed,
and a confluent-kafka group reads and commits as usual.

Versions: JoinGroup v5, SyncGroup v3, Heartbeat v3, OffsetCommit v7, OffsetFetch v5 (the
last non-flexible ones; each has group.instance.id where it matters).
"""

import threading
import time

import harness
import wire

TOPIC = "t"
API_FIND_COORDINATOR = 10
API_OFFSET_COMMIT, API_OFFSET_FETCH, API_JOIN_GROUP, API_HEARTBEAT, API_SYNC_GROUP = 8, 9, 11, 12, 14
COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR = 14, 15, 16
INVALID_TOPIC_EXCEPTION = 17
NONE, ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL, UNKNOWN_MEMBER_ID = 0, 22, 23, 25
MEMBER_ID_REQUIRED, GROUP_MAX_SIZE_REACHED, FENCED_INSTANCE_ID = 79, 81, 82


class Client:
    """One connection speaking the group APIs."""

    def __init__(self, port):
        self.conn = wire.Connection(port, timeout=30)

    def join(self, group, member_id="", instance=None, protocol_type="consumer",
             protocols=(("range", b""),)):
        """JoinGroup v5: (error, generation, leader, member id). Retried, as clients do,
        while the coordinator is not yet there (`__consumer_offsets` is made on first
        use and then loaded)."""
        for _ in range(300):
            # As a client does: FindCoordinator first (it makes `__consumer_offsets`).
            self.conn.request(API_FIND_COORDINATOR, 1, wire.string(group) + wire.i8(0))
            answer = self._join(group, member_id, instance, protocol_type, protocols)
            if answer[0] not in (COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE,
                                 NOT_COORDINATOR):
                return answer
            time.sleep(0.1)
        return answer

    def _join(self, group, member_id, instance, protocol_type, protocols):
        body = (wire.string(group) + wire.i32(10000) + wire.i32(10000) + wire.string(member_id)
                + wire.string(instance) + wire.string(protocol_type)
                + wire.array([wire.string(n) + wire.i32(len(m)) + m for n, m in protocols]))
        r = wire.Reader(self.conn.request(API_JOIN_GROUP, 5, body))
        r.i32()
        error, generation = r.i16(), r.i32()
        r.string()
        leader, member = r.string(), r.string()
        return error, generation, leader, member

    def join_dynamic(self, group, **kwargs):
        """A dynamic member's two-step join (KIP-394: MEMBER_ID_REQUIRED first)."""
        error, _, _, member = self.join(group, **kwargs)
        if error != MEMBER_ID_REQUIRED:
            return error, None, None
        error, generation, _, member = self.join(group, member_id=member, **kwargs)
        return error, generation, member

    def sync(self, group, generation, member, instance=None, assignments=()):
        """SyncGroup v3: the error code."""
        body = (wire.string(group) + wire.i32(generation) + wire.string(member)
                + wire.string(instance)
                + wire.array([wire.string(m) + wire.i32(len(a)) + a for m, a in assignments]))
        r = wire.Reader(self.conn.request(API_SYNC_GROUP, 3, body))
        r.i32()
        return r.i16()

    def heartbeat(self, group, generation, member, instance=None):
        body = (wire.string(group) + wire.i32(generation) + wire.string(member)
                + wire.string(instance))
        r = wire.Reader(self.conn.request(API_HEARTBEAT, 3, body))
        r.i32()
        return r.i16()

    def commit(self, group, generation, member, offset, instance=None):
        """OffsetCommit v7 of partition 0: its error code."""
        partition = wire.i32(0) + wire.i64(offset) + wire.i32(-1) + wire.string("")
        body = (wire.string(group) + wire.i32(generation) + wire.string(member)
                + wire.string(instance) + wire.array([wire.string(TOPIC) + wire.array([partition])]))
        r = wire.Reader(self.conn.request(API_OFFSET_COMMIT, 7, body))
        r.i32()
        topics = r.array(lambda t: (t.string(), t.array(lambda p: (p.i32(), p.i16()))))
        return topics[0][1][0][1]

    def committed(self, group):
        """OffsetFetch v5 of partition 0: (error, offset)."""
        body = wire.string(group) + wire.array([wire.string(TOPIC) + wire.array([wire.i32(0)])])
        r = wire.Reader(self.conn.request(API_OFFSET_FETCH, 5, body))
        r.i32()
        topics = r.array(lambda t: (t.string(), t.array(
            lambda p: (p.i32(), p.i64(), p.i32(), p.string(), p.i16()))))
        _, offset, _, _, error = topics[0][1][0]
        return error, offset


def main():
    weir = harness.weir_binary()
    confluent = harness.require_module("confluent_kafka")
    t = harness.Checks()
    overrides = ["group.max.size=2", "group.initial.rebalance.delay.ms=500"]
    with harness.WeirServer(weir, overrides=overrides) as server:
        server.create_topic(TOPIC, partitions=1)
        a = Client(server.port)
        error, generation, member = a.join_dynamic("g")
        t.equal(error, NONE, "member A joins group 'g'")
        t.equal(a.sync("g", generation, member, assignments=[(member, b"")]), NONE,
                "A syncs (it leads)")
        t.equal(a.commit("g", generation, member, 42), NONE, "A commits offset 42")

        b = Client(server.port)
        t.equal(b.join("g", protocol_type="connect")[0], INCONSISTENT_GROUP_PROTOCOL,
                "a member of protocol type 'connect' joining a 'consumer' group: "
                "INCONSISTENT_GROUP_PROTOCOL")
        t.equal(b.join("fresh", protocols=())[0], INCONSISTENT_GROUP_PROTOCOL,
                "JoinGroup with no protocols: INCONSISTENT_GROUP_PROTOCOL")
        # Two static members fill group 'full' (they join together: the first join waits
        # out group.initial.rebalance.delay.ms for others).
        pair = [Client(server.port), Client(server.port)]
        joined = [None, None]
        threads = [threading.Thread(target=lambda i=i: joined.__setitem__(
            i, pair[i].join("full", instance=f"f-{i}")), daemon=True) for i in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        t.check(all(j and j[0] == NONE and j[1] == 1 for j in joined),
                f"two static members fill group 'full' in generation 1 ({joined})")
        t.equal(b.join("full")[0], GROUP_MAX_SIZE_REACHED,
                "a third member of a group at group.max.size=2: GROUP_MAX_SIZE_REACHED")
        t.equal(b.join("full", protocol_type="connect")[0], GROUP_MAX_SIZE_REACHED,
                "... whatever its protocol type (Kafka checks the size first)")
        t.equal(b.commit("g", generation - 1, member, 7), ILLEGAL_GENERATION,
                "OffsetCommit with a generation the group left behind: ILLEGAL_GENERATION")
        t.equal(b.commit("g", generation, "nobody", 7), UNKNOWN_MEMBER_ID,
                "OffsetCommit from a member id the group does not know: UNKNOWN_MEMBER_ID")

        # A static member and a second incarnation of its instance id. The first join of
        # the replacement is answered only with the rebalance it may start, so it runs in
        # a thread while the first incarnation is asked.
        s1 = Client(server.port)
        error, s_generation, _, s_member = s1.join("s", instance="i-1")
        t.equal(error, NONE, "static member i-1 joins group 's'")
        t.equal(s1.sync("s", s_generation, s_member, instance="i-1",
                        assignments=[(s_member, b"")]), NONE, "i-1 syncs")
        s2 = Client(server.port)
        replaced = {}
        joiner = threading.Thread(target=lambda: replaced.update(
            zip(("error", "generation", "leader", "member"), s2.join("s", instance="i-1")),
        ), daemon=True)
        joiner.start()
        joiner.join(timeout=30)
        t.check(replaced.get("error") == NONE and replaced.get("member") not in (None, s_member),
                f"a new incarnation of i-1 takes its place with a new member id ({replaced})")
        t.equal(s1.heartbeat("s", s_generation, s_member, instance="i-1"), FENCED_INSTANCE_ID,
                "the old incarnation's Heartbeat: FENCED_INSTANCE_ID")
        t.equal(s1.commit("s", s_generation, s_member, 5, instance="i-1"), FENCED_INSTANCE_ID,
                "the old incarnation's OffsetCommit: FENCED_INSTANCE_ID")

        # A client's Produce to __consumer_offsets: refused in every partition, as Kafka
        # refuses appends to internal topics (the batch would be replayed as group state).
        forged = wire.record_batch([b"not a group record"], keys=[b"\x00\x01"])
        answers = set()
        for partition in range(50):
            data = b.conn.request(wire.API_PRODUCE, 8, wire.produce_body("__consumer_offsets",
                                                                        partition, forged))
            answers |= {error for error, _ in wire.parse_produce_response(data, 8).values()}
        t.equal(answers, {INVALID_TOPIC_EXCEPTION},
                "Produce to each of __consumer_offsets' 50 partitions: INVALID_TOPIC_EXCEPTION")

        # Nothing above disturbed group 'g' or anyone else.
        t.equal(a.heartbeat("g", generation, member), NONE, "A still heartbeats in 'g'")
        t.equal(a.committed("g"), (NONE, 42), "'g''s committed offset is still 42")
        t.equal(a.commit("g", generation, member, 43), NONE, "A commits again")
        t.equal(a.committed("g"), (NONE, 43), "... and reads it back")
        producer = confluent.Producer({"bootstrap.servers": server.bootstrap})
        for i in range(10):
            producer.produce(TOPIC, value=f"v{i}".encode())
        producer.flush(30)
        consumer = confluent.Consumer({"bootstrap.servers": server.bootstrap, "group.id": "other",
                                       "auto.offset.reset": "earliest",
                                       "enable.auto.commit": False})
        consumer.subscribe([TOPIC])
        read = 0
        for _ in range(200):
            message = consumer.poll(0.25)
            if message is not None and message.error() is None:
                read += 1
                if read == 10:
                    break
        consumer.commit(asynchronous=False)
        consumer.close()
        t.equal(read, 10, "another group's confluent-kafka consumer reads the 10 records")
        t.equal(a.committed("other"), (NONE, 10), "... and its commit holds")
        for c in [a, b, s1, s2] + pair:
            c.conn.close()
    t.finish()


if __name__ == "__main__":
    main()
