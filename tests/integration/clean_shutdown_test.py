#!/usr/bin/python3
"""Clean shutdown: SIGTERM flushes and closes ("weir server: stopped cleanly", exit 0,
a clean-shutdown marker in every partition dir); a restart finds all the data and does
not rescan: the active segments are not rewritten (recovery after an unclean stop
rewrites the active segment, src/storage/README.md), and the marker is consumed by the
open. The same observation after kill -9 shows the rewrite, so the check can fail.

usage: clean_shutdown_test.py path/to/weir
"""

import os
import time

import harness

TOPIC = "shutdown"
PARTITIONS = 2
MARKER = "clean-shutdown"


def log_stats(server):
    """{relative .log path: (mtime_ns, size, inode)} for TOPIC."""
    out = {}
    for p in range(PARTITIONS):
        d = server.partition_dir(TOPIC, p)
        for name in sorted(os.listdir(d)):
            if name.endswith(".log"):
                st = os.stat(os.path.join(d, name))
                out[f"{TOPIC}-{p}/{name}"] = (st.st_mtime_ns, st.st_size, st.st_ino)
    return out


def markers(server):
    return [os.path.exists(os.path.join(server.partition_dir(TOPIC, p), MARKER)) for p in range(PARTITIONS)]


def produce(server, start, n):
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=server.bootstrap, acks=1, linger_ms=5)
    futures = [producer.send(TOPIC, value=f"v{i}".encode(), partition=i % PARTITIONS)
               for i in range(start, start + n)]
    producer.flush(30)
    for f in futures:
        f.get(timeout=30)
    producer.close()


def read_all(server):
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=server.bootstrap, group_id=None, consumer_timeout_ms=3000)
    tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    end = consumer.end_offsets(tps)
    out = {}
    for r in consumer:
        out[(r.partition, r.offset)] = r.value
        if len(out) >= sum(end.values()):
            break
    consumer.close()
    return out


def expected(n):
    return {(i % PARTITIONS, i // PARTITIONS): f"v{i}".encode() for i in range(n)}


def main():
    weir = harness.weir_binary()
    harness.require_module("kafka")
    t = harness.Checks()
    server = harness.WeirServer(weir)
    try:
        server.start()
        server.create_topic(TOPIC, partitions=PARTITIONS)
        produce(server, 0, 5000)
        t.equal(markers(server), [False] * PARTITIONS, "no clean-shutdown marker while serving")

        # --- SIGTERM -------------------------------------------------------------------
        server.stop()  # raises unless "stopped cleanly" and exit 0
        t.check(True, "SIGTERM: 'weir server: stopped cleanly', exit status 0")
        t.equal(markers(server), [True] * PARTITIONS, "SIGTERM leaves a clean-shutdown marker in every partition")
        before = log_stats(server)
        contents = server.log_files()
        time.sleep(0.05)  # a rewrite at restart would get a later mtime than any write so far

        server.start()
        t.equal(read_all(server), expected(5000), "after a clean restart all 5000 records are there")
        t.equal(log_stats(server), before, "after a clean restart the .log files were not rewritten (no rescan)")
        t.equal(server.log_files(), contents, "after a clean restart the .log bytes are unchanged")
        t.equal(markers(server), [False] * PARTITIONS, "the restart consumed the markers")

        # --- contrast: kill -9 makes the next open recover (rewrite) ----------------------
        produce(server, 5000, 1000)
        server.crash()
        t.equal(markers(server), [False] * PARTITIONS, "kill -9 leaves no marker")
        before = log_stats(server)
        time.sleep(0.05)
        server.start()
        t.equal(read_all(server), expected(6000), "after kill -9 and restart all 6000 records are there")
        after = log_stats(server)
        t.check(any(after[k][0] != before[k][0] for k in before if k in after),
                "after kill -9 the restart rewrote an active segment (recovery ran): the check above can fail")

        # --- and a clean stop after a recovery is clean again ---------------------------
        server.stop()
        t.equal(markers(server), [True] * PARTITIONS, "a second SIGTERM leaves the markers again")
        before = log_stats(server)
        time.sleep(0.05)
        server.start()
        t.equal(log_stats(server), before, "the following restart does not rescan either")
        t.equal(read_all(server), expected(6000), "and all 6000 records are there")
        server.stop()
    finally:
        server.cleanup()
    t.finish()


if __name__ == "__main__":
    main()
