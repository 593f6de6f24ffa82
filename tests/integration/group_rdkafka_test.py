"""A librdkafka (confluent-kafka) group of three on a 6-partition topic, under a kill -9
and a joiner, once for each way librdkafka rebalances: eager (`range`), incremental
(`cooperative-sticky`) and static membership (KIP-345, eager with `group.instance.id`).

Each member is its own process (rdkafka_member.py) so it can be killed with SIGKILL.
While a producer writes throughout, three members join and split the partitions; one is
killed and the other two take its partitions over (for a static member, once its session
times out: a static member's leaving is noticed only then); a fourth joins and the
partitions are split three ways again. Then every acknowledged record must have been
consumed at least once, and the group's committed offsets must be the log ends.

librdkafka 2.0.2 (Debian 12) predates KIP-848: `group.protocol=consumer` is not there to
test, so this runs the classic protocol only.
"""

import os
import signal
import subprocess
import sys
import threading
import time

import harness
from cluster_test import wait_until

TOPIC = "rk"
PARTITIONS = 6
MEMBER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rdkafka_member.py")


class Member:
    """One member process and what it printed: the records it consumed and its latest
    assignment."""

    def __init__(self, bootstrap, group, assignor, instance, consumed, lock):
        self.args = (bootstrap, group, assignor, instance, consumed, lock)
        args = [sys.executable, MEMBER, bootstrap, group, TOPIC, assignor]
        if instance:
            args.append(instance)
        self.name = instance or f"{group}-{id(self)}"
        self.assignment = None
        self.changes = 0  # how often the assignment changed: a rebalance shows here
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, preexec_fn=harness._die_with_parent)
        self._consumed, self._lock = consumed, lock
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            words = raw.decode(errors="replace").split()
            if not words:
                continue
            with self._lock:
                if words[0] == "rec":
                    self._consumed.add((int(words[1]), int(words[2])))
                elif words[0] == "asg":
                    self.assignment = {int(p) for p in words[1].split(",")} if len(words) > 1 else set()
                    self.changes += 1

    def kill(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            return None


def split_among(members, lock, partitions=PARTITIONS):
    """The members' latest assignments, if they split the partitions among them with
    none left out, none shared and every member owning some; else None."""
    with lock:
        sets = [m.assignment for m in members]
    if any(not s for s in sets):
        return None
    union = set().union(*sets)
    if len(union) != partitions or sum(len(s) for s in sets) != partitions:
        return None
    return sets


class Producing:
    """A confluent-kafka producer writing round-robin over `partitions` (one record each
    5 ms) on a thread until stop(), which flushes; `delivered` gets (partition, offset)
    of every acknowledged record."""

    def __init__(self, confluent, bootstrap, partitions, delivered, lock, label="r", **config):
        self._stop = threading.Event()
        self._args = (confluent, bootstrap, partitions, delivered, lock, label, config)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        confluent, bootstrap, partitions, delivered, lock, label, config = self._args
        producer = confluent.Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                       "linger.ms": 5, **config})

        def on_delivery(err, message):
            if err is None:
                with lock:
                    delivered.add((message.partition(), message.offset()))

        i = 0
        while not self._stop.is_set():
            producer.produce(TOPIC, value=f"{label} {i}".encode(), partition=i % partitions,
                             on_delivery=on_delivery)
            producer.poll(0)
            i += 1
            time.sleep(0.005)
        producer.flush(90)

    def stop(self, timeout=120):
        self._stop.set()
        self._thread.join(timeout=timeout)


def stop_and_check_consumed(t, label, producer, delivered, consumed, lock):
    """Stops the producer, then checks that it had records acknowledged and that every
    one of them was consumed at least once (waiting up to 90 s for the members)."""
    producer.stop()
    with lock:
        produced = len(delivered)
    t.check(produced > 100, f"{label} the producer's records were acknowledged ({produced})")

    def all_consumed():
        with lock:
            return delivered <= consumed

    done = wait_until(all_consumed, 90)
    with lock:
        missing = sorted(delivered - consumed)
    t.check(done, f"{label} every acknowledged record was consumed at least once "
                  f"({produced} records; missing {missing[:10]}"
                  f"{'...' if len(missing) > 10 else ''})")


def run_group(t, confluent, bootstrap, group, assignor, static):
    lock = threading.Lock()
    consumed = set()
    delivered = set()
    producer = Producing(confluent, bootstrap, PARTITIONS, delivered, lock, label=group)
    names = iter(f"{group}-{n}" for n in range(1, 10))

    def member():
        return Member(bootstrap, group, assignor, next(names) if static else None, consumed, lock)

    members = [member(), member(), member()]
    label = f"[{group}: {assignor}{', static' if static else ''}]"
    try:
        split = wait_until(lambda: split_among(members, lock), 90)
        t.check(split, f"{label} three members split the {PARTITIONS} partitions: {split}")
        members[0].kill()
        survivors = members[1:]
        split = wait_until(lambda: split_among(survivors, lock), 90)
        t.check(split, f"{label} after a kill -9 the two survivors own every partition: {split}")
        survivors.append(member())
        split = wait_until(lambda: split_among(survivors, lock), 90)
        t.check(split, f"{label} a joiner: the three live members split the partitions again: {split}")
        if static:
            # KIP-345: a static member that restarts within its session timeout takes its
            # partitions back without a rebalance: the others' assignments never change.
            time.sleep(1)
            with lock:
                before = [(m.changes, m.assignment) for m in survivors]
            survivors[0].kill()
            survivors[0] = Member(*survivors[0].args)
            back = wait_until(lambda: survivors[0].assignment == before[0][1], 30)
            with lock:
                after = [(m.changes, m.assignment) for m in survivors[1:]]
            t.check(back and after == before[1:],
                    f"{label} a static member killed and restarted gets {before[0][1]} back "
                    f"and the others never rebalance: {before[1:]} -> {after}")
        stop_and_check_consumed(t, label, producer, delivered, consumed, lock)
        codes = [m.stop() for m in survivors]
        t.equal(codes, [0, 0, 0], f"{label} the members committed and closed")
    finally:
        producer.stop(timeout=0)
        for m in members + survivors:
            if m.proc.poll() is None:
                m.kill()

    # The group's commits are the log ends: every partition's consumed to its end.
    probe = confluent.Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        partitions = [confluent.TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        committed = {tp.partition: tp.offset for tp in probe.committed(partitions, timeout=30)}
        ends = {p: probe.get_watermark_offsets(confluent.TopicPartition(TOPIC, p), timeout=30)[1]
                for p in range(PARTITIONS)}
    finally:
        probe.close()
    t.equal(committed, ends, f"{label} the committed offsets are the log ends")


def main():
    weir = harness.weir_binary()
    confluent = harness.require_module("confluent_kafka")
    t = harness.Checks()
    with harness.WeirServer(weir, overrides=["group.initial.rebalance.delay.ms=200"]) as server:
        server.create_topic(TOPIC, partitions=PARTITIONS)
        run_group(t, confluent, server.bootstrap, "eager", "range", static=False)
        run_group(t, confluent, server.bootstrap, "coop", "cooperative-sticky", static=False)
        run_group(t, confluent, server.bootstrap, "static", "range", static=True)
    t.finish()


if __name__ == "__main__":
    main()
