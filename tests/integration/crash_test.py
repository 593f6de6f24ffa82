#!/usr/bin/python3
"""kill -9 in the middle of an acks=all stream, on real processes: a producer thread
records every acknowledged (partition, offset, value); the server is killed while
records are in flight, restarted on the same data dir, and everything is read back.
Every acknowledged record must be there at its acknowledged offset. Three rounds, so
a restarted server (recovered after a crash) is itself crashed again.

What this proves and what it does not: SIGKILL loses the process, not the page cache,
so it checks that weir acknowledges only what it has written and that recovery of an
unclean shutdown keeps it (tail validation, index rebuild, producer state). Power loss
is the simulator's job (SimDisk drops unsynced writes).

usage: crash_test.py path/to/weir
"""

import threading
import time

import harness

TOPIC = "crash"
PARTITIONS = 3
ROUNDS = 3


def produce_until_killed(server, round_no, acked, t):
    """Streams acks=all records until the server dies under it; returns acked count."""
    from confluent_kafka import Producer
    stop = threading.Event()
    errors = []
    lock = threading.Lock()

    def on_delivery(err, msg):
        with lock:
            if err is None:
                acked.append((msg.partition(), msg.offset(), msg.value()))
            else:
                errors.append(err)

    producer = Producer({"bootstrap.servers": server.bootstrap, "acks": "all", "linger.ms": 2,
                         "enable.idempotence": False, "message.timeout.ms": 4000,
                         "retries": 0, "socket.timeout.ms": 3000,
                         "reconnect.backoff.max.ms": 200, "log_level": 2})

    produced = [0]

    def run():
        i = 0
        while not stop.is_set():
            value = f"r{round_no}-{i}".encode()
            try:
                producer.produce(TOPIC, value=value, partition=i % PARTITIONS, on_delivery=on_delivery)
                i += 1
                produced[0] = i
            except BufferError:
                producer.poll(0.01)
            producer.poll(0)

    thread = threading.Thread(target=run)
    thread.start()
    before = len(acked)
    # Let a real stream build up, then kill while records are outstanding.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with lock:
            n = len(acked) - before
        if n >= 20000 and len(producer) > 0:
            break
        time.sleep(0.01)
    in_flight = len(producer)
    server.crash()
    with lock:
        at_kill = len(acked) - before
    stop.set()
    thread.join()
    left = producer.flush(15)  # everything left fails (message.timeout.ms) or was already acked
    t.check(at_kill > 0 and in_flight > 0,
            f"round {round_no}: killed with {at_kill} acknowledged and {in_flight} in flight")
    print(f"round {round_no}: {produced[0]} produced, {len(acked) - before} acknowledged, "
          f"{len(errors)} failed, {left} still queued", flush=True)
    t.equal(len(acked) - before + len(errors) + left, produced[0],
            f"round {round_no}: every record produced got exactly one delivery report")
    return len(acked) - before


def read_everything(bootstrap):
    from confluent_kafka import Consumer, KafkaError, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "enable.partition.eof": True})
    ends = {}
    for p in range(PARTITIONS):
        low, high = c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)
        ends[p] = (low, high)
    c.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    stored = {}
    done = set(p for p, (low, high) in ends.items() if high == 0)
    deadline = time.monotonic() + 60
    while len(done) < PARTITIONS and time.monotonic() < deadline:
        for m in c.consume(10000, 1.0):
            if m.error() is not None:
                if m.error().code() == KafkaError._PARTITION_EOF and m.offset() >= ends[m.partition()][1]:
                    done.add(m.partition())
                continue
            stored[(m.partition(), m.offset())] = m.value()
    c.close()
    return stored, ends


def main():
    weir = harness.weir_binary()
    harness.require_module("confluent_kafka")
    t = harness.Checks()
    server = harness.WeirServer(weir)
    try:
        server.start()
        server.create_topic(TOPIC, partitions=PARTITIONS)
        acked = []
        for round_no in range(ROUNDS):
            produce_until_killed(server, round_no, acked, t)
            server.start()
            stored, ends = read_everything(server.bootstrap)
            missing = [(p, o, v) for p, o, v in acked if stored.get((p, o)) != v]
            t.check(not missing, f"after crash {round_no}: all {len(acked)} acknowledged records at their "
                    f"offsets ({len(missing)} missing or different, e.g. {missing[:3]})")
            dense = all(sorted(o for (q, o) in stored if q == p) == list(range(ends[p][0], ends[p][1]))
                        for p in range(PARTITIONS))
            t.check(dense, f"after crash {round_no}: each partition reads back dense up to its end {ends}")
            positions = [(p, o) for p, o, _ in acked]
            t.equal(len(set(positions)), len(positions), f"after crash {round_no}: no offset acknowledged twice")
        server.stop()
    finally:
        server.cleanup()
    t.finish()


if __name__ == "__main__":
    main()
