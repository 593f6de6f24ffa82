#!/usr/bin/python3
"""An idempotent producer (confluent-kafka, enable.idempotence=true) streams sequence
numbers to one partition; the server is killed with SIGKILL mid-stream and restarted on
the same port and data dir, so the producer reconnects and retries what was in flight
with the same producer id and sequence numbers. Records the dead server wrote but never
acknowledged are in its log, so the retries are duplicates the restarted server must
recognise from producer state recovered from disk. Passes when the partition holds every
sequence number exactly once, in order, at the offset equal to it, and every record was
acknowledged at that offset.

usage: idempotent_crash_test.py path/to/weir
"""

import threading
import time

import harness

TOPIC = "idem-crash"
COUNT = 300_000
CRASHES = 3


def main():
    weir = harness.weir_binary()
    harness.require_module("confluent_kafka")
    from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
    t = harness.Checks()
    server = harness.WeirServer(weir)
    try:
        server.start()
        server.listen_port = server.port  # restarts come back where the producer looks
        server.create_topic(TOPIC, partitions=1)
        lock = threading.Lock()
        acked, errors = {}, []

        def on_delivery(err, msg):
            with lock:
                if err is None:
                    acked[int(msg.value())] = msg.offset()
                else:
                    errors.append(err)

        producer = Producer({"bootstrap.servers": server.bootstrap, "enable.idempotence": True,
                             "linger.ms": 2, "message.timeout.ms": 120000,
                             "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 200,
                             "log_level": 3})
        next_seq = 0
        crash_points = [COUNT * (k + 1) // (CRASHES + 1) for k in range(CRASHES)]
        in_flight_at_crash = []
        while next_seq < COUNT:
            try:
                producer.produce(TOPIC, value=str(next_seq).encode(), partition=0, on_delivery=on_delivery)
                next_seq += 1
            except BufferError:
                producer.poll(0.01)
            producer.poll(0)
            if crash_points and next_seq >= crash_points[0]:
                crash_points.pop(0)
                in_flight_at_crash.append(len(producer))
                server.crash()
                time.sleep(0.3)  # the producer sees the connection fail and queues retries
                server.start()
        left = producer.flush(120)
        print(f"in flight at each crash: {in_flight_at_crash}; {len(acked)} acknowledged, "
              f"{len(errors)} failed ({errors[:3]}), {left} still queued", flush=True)
        t.check(all(n > 0 for n in in_flight_at_crash), "each kill -9 hit records in flight")
        t.equal(len(errors), 0, "no delivery failed (the producer retried through the crashes)")
        t.equal(len(acked), COUNT, f"all {COUNT} acknowledged")
        wrong = [(s, o) for s, o in acked.items() if s != o]
        t.check(not wrong, f"every record acknowledged at offset = its sequence number "
                f"({len(wrong)} not, e.g. {sorted(wrong)[:3]})")

        c = Consumer({"bootstrap.servers": server.bootstrap, "group.id": "unused",
                      "enable.auto.commit": False, "enable.partition.eof": True})
        low, high = c.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10)
        t.equal((low, high), (0, COUNT), "the partition holds exactly COUNT records (no duplicates)")
        c.assign([TopicPartition(TOPIC, 0, 0)])
        read, done = [], False
        deadline = time.monotonic() + 60
        while not done and time.monotonic() < deadline:
            for m in c.consume(10000, 1.0):
                if m.error() is not None:
                    done = m.error().code() == KafkaError._PARTITION_EOF and m.offset() >= high
                    continue
                read.append((m.offset(), int(m.value())))
        c.close()
        t.check(read == [(i, i) for i in range(COUNT)],
                f"reads back 0..{COUNT - 1} once each, in order, offset = sequence ({len(read)} read)")
        server.stop()
    finally:
        server.cleanup()
    t.finish()


if __name__ == "__main__":
    main()
