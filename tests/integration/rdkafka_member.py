"""One confluent-kafka (librdkafka) group member, run as its own process so that a test
can kill it with SIGKILL. Used by group_rdkafka_test.py.

    rdkafka_member.py <bootstrap> <group> <topic> <assignor> [<group.instance.id>]

Consumes at least once: a record is printed (`rec <partition> <offset>`) before its
offset is committed, commits go out synchronously every 200 ms and before partitions are
given up, and a SIGTERM commits and leaves the group (close). Each change of the
assignment is printed as `asg <p,p,...>`; the line is flushed, so the parent sees it
at once.
"""

import signal
import sys
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

bootstrap, group, topic, assignor = sys.argv[1:5]
instance = sys.argv[5] if len(sys.argv) > 5 else None
config = {
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "partition.assignment.strategy": assignor,
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 500,
    "max.poll.interval.ms": 60000,
}
if instance:
    config["group.instance.id"] = instance

stopping = False


def on_sigterm(signum, frame):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, on_sigterm)
consumer = Consumer(config)
pending = {}  # partition -> next offset to commit


def commit():
    if not pending:
        return
    offsets = [TopicPartition(topic, p, o) for p, o in sorted(pending.items())]
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
        pending.clear()
    except KafkaException as e:
        # A commit refused in a rebalance is retried after it: at least once, not lost.
        print(f"commit-error {e}", flush=True)


def on_revoke(c, partitions):
    commit()
    # What could not be committed now belongs to the next owner: committing it later
    # could move that owner's commit backwards.
    for p in partitions:
        pending.pop(p.partition, None)


consumer.subscribe([topic], on_revoke=on_revoke)
shown = None
last_commit = time.monotonic()
while not stopping:
    message = consumer.poll(0.1)
    if message is not None and message.error() is None:
        print(f"rec {message.partition()} {message.offset()}", flush=True)
        pending[message.partition()] = message.offset() + 1
    assignment = ",".join(str(p.partition) for p in sorted(consumer.assignment(),
                                                             key=lambda p: p.partition))
    if assignment != shown:
        shown = assignment
        print(f"asg {assignment}", flush=True)
    if time.monotonic() - last_commit > 0.2:
        commit()
        last_commit = time.monotonic()
commit()
consumer.close()
print("closed", flush=True)
