#!/usr/bin/python3
"""Partition replication on real processes, as the issue's new user tried it: three
controllers and three brokers, a topic with replication factor 3 and
min.insync.replicas=2, an idempotent acks=all producer (confluent-kafka) streaming
while the partition's leader is killed with kill -9 three times in turn (each killed
broker restarted before the next kill). Every acknowledged record must be read back, at
its acknowledged offset, once, in the order sent; each killed broker rejoins the ISR;
a follower stopped with SIGSTOP leaves the ISR after replica.lag.time.max.ms and
rejoins after SIGCONT; and with only one replica left in sync, acks=all is refused with
NOT_ENOUGH_REPLICAS while acks=1 is still accepted; unclean election off keeps a
partition offline, turned on it elects an out-of-sync replica; and eligible leader
replicas (KIP-966) let a follower that stopped cleanly below min.insync.replicas lead
when the leader dies, losing nothing acknowledged; and a reassignment moves the
partition off a broker (which deletes its copy) and back, the new replica catching up
before the old assignment is let go.

What this proves and what it does not: kill -9 loses a process, not its page cache;
power loss and network partitions are the simulator's (docs/sim.md).
"""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from cluster_test import Node, create_topic, grow_topic, metadata, wait_until  # noqa: E402
from harness import Checks, weir_binary  # noqa: E402
from quorum_test import free_port  # noqa: E402

TOPIC = "replicated"
KILLS = 3


def partition_state(kcat_path, brokers):
    """(leader, replicas, isrs) of partition 0 as some live broker lists it."""
    for broker in brokers:
        if broker.process is None or broker.process.poll() is not None:
            continue
        listing = metadata(kcat_path, broker, TOPIC)
        if not listing:
            continue
        for topic in listing.get("topics", []):
            if topic["topic"] == TOPIC and topic.get("partitions"):
                p = topic["partitions"][0]
                return p["leader"], sorted(r["id"] for r in p["replicas"]), sorted(
                    r["id"] for r in p["isrs"])
    return None


def replicas_of(kcat_path, brokers):
    """Partition 0's replicas in the metadata's (preferred) order."""
    for broker in brokers:
        listing = metadata(kcat_path, broker, TOPIC)
        for topic in (listing or {}).get("topics", []):
            if topic["topic"] == TOPIC and topic.get("partitions"):
                return [r["id"] for r in topic["partitions"][0]["replicas"]]
    return [None]


def main():
    weir = weir_binary()
    kcat_path = harness.require_program("kcat")
    harness.require_module("confluent_kafka")
    import confluent_kafka
    import confluent_kafka.admin as admin_module
    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="weir-replication-") as root:
        ports = {n: free_port() for n in range(1, 7)}
        voters = ",".join(f"{n}@127.0.0.1:{ports[n]}" for n in (1, 2, 3))
        controllers = [Node(weir, n, "controller", ports[n], voters, root) for n in (1, 2, 3)]
        brokers = [Node(weir, n, "broker", ports[n], voters, root) for n in (4, 5, 6)]
        for b in brokers:
            with open(b.config, "a") as f:
                f.write("replica.lag.time.max.ms=3000\nreplica.fetch.backoff.ms=200\n")
        by_id = {b.node: b for b in brokers}
        bootstrap = ",".join(f"127.0.0.1:{b.port}" for b in brokers)
        try:
            for n in controllers + brokers:
                n.start()
            listed = wait_until(lambda: all(
                (m := metadata(kcat_path, b)) and len(m["brokers"]) == 3 for b in brokers), 60)
            checks.check(bool(listed), "three brokers registered and unfenced")
            error = create_topic(admin_module, bootstrap, TOPIC, 1, 3)
            checks.check(error is None, f"topic with replication factor 3 created ({error})")
            admin = admin_module.AdminClient({"bootstrap.servers": bootstrap})
            resource = admin_module.ConfigResource("topic", TOPIC,
                                                   set_config={"min.insync.replicas": "2"})
            for future in admin.alter_configs([resource]).values():
                future.result(timeout=30)
            state = wait_until(lambda: (s := partition_state(kcat_path, brokers)) and
                               len(s[2]) == 3 and s, 30)
            checks.check(bool(state), f"the partition's ISR holds all three replicas ({state})")

            acked = {}  # value -> offset
            errors = []
            lock = threading.Lock()
            stop = threading.Event()

            def on_delivery(err, msg):
                with lock:
                    if err is None:
                        acked[msg.value().decode()] = msg.offset()
                    else:
                        errors.append(str(err))

            producer = confluent_kafka.Producer({
                "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                "linger.ms": 5, "message.timeout.ms": 120000, "retry.backoff.ms": 100})

            def produce():
                i = 0
                while not stop.is_set():
                    try:
                        producer.produce(TOPIC, value=f"v{i}".encode(), partition=0,
                                         on_delivery=on_delivery)
                        i += 1
                    except BufferError:
                        pass
                    producer.poll(0.001 if i % 50 else 0.01)
                producer.flush(120)

            thread = threading.Thread(target=produce)
            thread.start()
            time.sleep(2)
            for kill in range(KILLS):
                state = partition_state(kcat_path, brokers)
                if not checks.check(state is not None and state[0] in by_id,
                                    f"kill {kill + 1}: the partition has a leader ({state})"):
                    break
                victim = by_id[state[0]]
                with lock:
                    before = len(acked)
                victim.signal(signal.SIGKILL)
                moved = wait_until(lambda: (s := partition_state(kcat_path, brokers)) and
                                   s[0] in by_id and s[0] != victim.node and s, 30)
                checks.check(bool(moved), f"kill {kill + 1}: leader {victim.node} killed with "
                             f"{before} records acknowledged; leadership moved ({moved})")
                time.sleep(2)
                victim.start()
                whole = wait_until(lambda: (s := partition_state(kcat_path, brokers)) and
                                   len(s[2]) == 3 and s, 60)
                checks.check(bool(whole), f"kill {kill + 1}: broker {victim.node} restarted and "
                             f"back in the ISR ({whole})")
            time.sleep(2)
            stop.set()
            thread.join(180)
            with lock:
                acked_now = dict(acked)
            checks.check(len(acked_now) > 1000,
                         f"{len(acked_now)} records acknowledged across the kills "
                         f"({len(errors)} delivery errors, e.g. {errors[:1]})")

            consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap,
                                                 "group.id": "unused",
                                                 "enable.auto.commit": False})
            consumer.assign([confluent_kafka.TopicPartition(TOPIC, 0, 0)])
            read = {}
            duplicates = 0
            deadline = time.time() + 60
            while time.time() < deadline and not set(acked_now) <= set(read):
                for m in consumer.consume(1000, 1.0):
                    if m.error() is None:
                        value = m.value().decode()
                        if value in read:
                            duplicates += 1
                        read[value] = m.offset()
            consumer.close()
            lost = [v for v in acked_now if v not in read]
            moved_offsets = [v for v in acked_now if v in read and read[v] != acked_now[v]]
            checks.check(not lost, f"every acknowledged record is read back "
                         f"({len(lost)} of {len(acked_now)} lost, e.g. {lost[:3]})")
            checks.check(not moved_offsets, f"at its acknowledged offset "
                         f"({len(moved_offsets)} moved)")
            checks.check(duplicates == 0, f"once ({duplicates} duplicates)")
            # One producer, one partition, idempotence: offsets follow the send order.
            in_order = [offset for _, offset in
                        sorted((int(v[1:]), read[v]) for v in acked_now if v in read)]
            checks.check(all(a < b for a, b in zip(in_order, in_order[1:])),
                         "in the order sent (offsets increase with the send order)")

            # A follower stopped with SIGSTOP leaves the ISR after replica.lag.time.max.ms
            # once the leader's log moves on, and rejoins after SIGCONT.
            state = partition_state(kcat_path, brokers)
            leader = by_id[state[0]]
            paused = next(b for b in brokers if b is not leader)
            os.kill(paused.process.pid, signal.SIGSTOP)
            p = confluent_kafka.Producer({"bootstrap.servers": f"127.0.0.1:{leader.port}",
                                          "acks": "1"})
            for i in range(100):
                p.produce(TOPIC, value=f"while-paused-{i}".encode(), partition=0)
            p.flush(15)
            left = wait_until(lambda: (s := partition_state(kcat_path, [leader])) and
                              paused.node not in s[2] and s, 30)
            checks.check(bool(left), f"a follower stopped with SIGSTOP leaves the ISR ({left})")
            described = subprocess.run(
                [weir, "topic", "describe", "--bootstrap-server", f"127.0.0.1:{leader.port}",
                 "--under-replicated-partitions"], capture_output=True, timeout=30).stdout.decode()
            checks.check(f"Topic: {TOPIC}\tPartition: 0\tLeader: {leader.node}" in described and
                         "\tIsr: " in described and
                         str(paused.node) not in described.split("\tIsr: ")[1].split("\t")[0],
                         f"weir topic describe --under-replicated-partitions lists it "
                         f"({described.strip()})")
            os.kill(paused.process.pid, signal.SIGCONT)
            back = wait_until(lambda: (s := partition_state(kcat_path, [leader])) and
                              paused.node in s[2] and s, 30)
            checks.check(bool(back), f"and rejoins it after SIGCONT ({back})")

            # Two followers down: the ISR shrinks to the leader alone (after
            # replica.lag.time.max.ms), so acks=all is refused and acks=1 accepted.
            state = partition_state(kcat_path, brokers)
            leader = by_id[state[0]]
            followers = [b for b in brokers if b is not leader]
            for b in followers:
                b.signal(signal.SIGKILL)
            shrunk = wait_until(lambda: (s := partition_state(kcat_path, [leader])) and
                                s[2] == [leader.node] and s, 30)
            checks.check(bool(shrunk), f"with both followers killed the ISR is the leader "
                         f"alone ({shrunk})")
            results = {}
            for acks in ("all", "1"):
                p = confluent_kafka.Producer({"bootstrap.servers": f"127.0.0.1:{leader.port}",
                                              "acks": acks, "message.timeout.ms": 5000,
                                              "retries": 0})
                outcome = []
                p.produce(TOPIC, value=b"under-min-isr", partition=0,
                          on_delivery=lambda err, msg: outcome.append(err))
                p.flush(15)
                results[acks] = outcome[0] if outcome else "no answer"
            all_error = results["all"]
            checks.check(all_error is not None and
                         all_error.code() == confluent_kafka.KafkaError.NOT_ENOUGH_REPLICAS,
                         f"acks=all under min.insync.replicas: NOT_ENOUGH_REPLICAS ({all_error})")
            checks.check(results["1"] is None, f"acks=1 is still accepted ({results['1']})")
            for b in followers:
                b.start()
            whole = wait_until(lambda: (s := partition_state(kcat_path, brokers)) and
                               len(s[2]) == 3 and s, 60)
            checks.check(bool(whole), f"the followers restarted and rejoined ({whole})")

            # Unclean leader election. The last in-sync replica dies after the others
            # fell out of sync: with unclean.leader.election.enable off the partition
            # stays offline when an out-of-sync replica comes back; turned on for the
            # topic (AlterConfigs, no restart), that replica leads — and the
            # records only the dead leader had are gone, as the setting allows.
            def produce_acks1(broker, prefix, n):
                p = confluent_kafka.Producer({"bootstrap.servers": f"127.0.0.1:{broker.port}",
                                              "acks": "1", "message.timeout.ms": 10000})
                for i in range(n):
                    p.produce(TOPIC, value=f"{prefix}-{i}".encode(), partition=0)
                return p.flush(20)

            state = partition_state(kcat_path, brokers)
            last = by_id[state[0]]
            stale, other = [b for b in brokers if b is not last]
            stale.signal(signal.SIGKILL)
            produce_acks1(last, "stale-missing", 50)
            wait_until(lambda: (s := partition_state(kcat_path, [last])) and
                       stale.node not in s[2] and s, 30)
            other.signal(signal.SIGKILL)
            produce_acks1(last, "only-on-last", 50)
            alone = wait_until(lambda: (s := partition_state(kcat_path, [last])) and
                               s[2] == [last.node] and s, 30)
            checks.check(bool(alone), f"the ISR shrank to broker {last.node} alone ({alone})")
            last.signal(signal.SIGKILL)
            stale.start()
            # Leaderless once the dead leader's session expires; then, for several
            # controller ticks more, no leader may appear while the setting is off.
            wait_until(lambda: (s := partition_state(kcat_path, [stale])) and s[0] == -1, 30)
            time.sleep(3)
            offline = partition_state(kcat_path, [stale])
            checks.check(offline is not None and offline[0] == -1,
                         f"unclean election off: with only out-of-sync broker {stale.node} "
                         f"alive the partition stays offline ({offline})")
            # (AlterConfigs: Debian's confluent-kafka 1.7 has no incremental form; it
            # replaces the topic's overrides, so min.insync.replicas is named again.)
            admin = admin_module.AdminClient({"bootstrap.servers": f"127.0.0.1:{stale.port}"})
            resource = admin_module.ConfigResource(
                "topic", TOPIC, set_config={"min.insync.replicas": "2",
                                            "unclean.leader.election.enable": "true"})
            for future in admin.alter_configs([resource]).values():
                future.result(timeout=30)
            elected = wait_until(lambda: (s := partition_state(kcat_path, [stale])) and
                                 s[0] == stale.node and s, 30)
            checks.check(bool(elected), f"turned on dynamically, broker {stale.node} is elected "
                         f"uncleanly ({elected})")
            checks.check(produce_acks1(stale, "after-unclean", 10) == 0,
                         "and the partition takes writes again")
            # The old leader returns as a follower and drops what only it had; its
            # broker names the range.
            last.start()
            other.start()
            whole = wait_until(lambda: (s := partition_state(kcat_path, brokers)) and
                               len(s[2]) == 3 and s, 60)
            checks.check(bool(whole), f"the old leader and the other replica rejoin ({whole})")
            with open(last.data + ".out", errors="replace") as f:
                reported = [line.strip() for line in f
                            if f"partition {TOPIC}-0: truncated offsets [" in line]
            checks.check(bool(reported), f"broker {last.node} reports the range it truncated "
                         f"({reported[-1:] if reported else 'nothing'})")

            # Preferred leader election (kafka-leader-election's PREFERRED): leadership
            # goes back to the first replica.
            def weir_partition(*args):
                return subprocess.run(
                    [weir, "partition", "elect", "--bootstrap-server",
                     f"127.0.0.1:{brokers[0].port}", *args],
                    capture_output=True, text=True, timeout=60)
            elect = weir_partition("--election-type", "preferred", "--topic", TOPIC)
            checks.check(elect.returncode == 0 and
                         ("Successfully completed leader election (PREFERRED)" in elect.stdout or
                          "Valid replica already elected" in elect.stdout),
                         f"weir partition elect --election-type preferred: {elect.stdout.strip()}"
                         f"{elect.stderr.strip()}")
            preferred = wait_until(lambda: (s := partition_state(kcat_path, brokers)) and
                                   s[0] == replicas_of(kcat_path, brokers)[0] and s, 30)
            checks.check(bool(preferred), f"the preferred replica leads ({preferred})")
            again = weir_partition("--election-type", "unclean", "--topic", TOPIC)
            checks.check(again.returncode == 0 and "Valid replica already elected" in again.stdout,
                         f"an unclean election of a led partition is not needed: "
                         f"{again.stdout.strip()}{again.stderr.strip()}")

            # Eligible leader replicas (KIP-966, on in a new cluster). Unclean election
            # off again. Two followers stop cleanly in turn: the first leaves an ISR still
            # at min.insync.replicas, the second one below it and keeps a claim (the ELR):
            # the high watermark stays where it had. The leader is killed: the partition
            # is offline with both in the ELR. The first follower's return elects
            # nobody; the second's — clean, in the ELR — leads, losing nothing committed.
            resource = admin_module.ConfigResource("topic", TOPIC,
                                                   set_config={"min.insync.replicas": "2"})
            for future in admin.alter_configs([resource]).values():
                future.result(timeout=30)
            whole = wait_until(lambda: (s := partition_state(kcat_path, brokers)) and
                               len(s[2]) == 3 and s[0] in by_id and s, 60)
            checks.check(bool(whole), f"ELR: the partition is whole again ({whole})")
            leader = by_id[whole[0]]
            # Records the ELR election must keep: acknowledged by the whole ISR.
            p = confluent_kafka.Producer({"bootstrap.servers": f"127.0.0.1:{leader.port}",
                                          "acks": "all", "enable.idempotence": True,
                                          "message.timeout.ms": 20000})
            elr_acked = {}
            for i in range(50):
                p.produce(TOPIC, value=f"elr-{i}".encode(), partition=0,
                          on_delivery=lambda err, msg: err is None and elr_acked.update(
                              {msg.value().decode(): msg.offset()}))
            p.flush(30)
            checks.check(len(elr_acked) == 50, f"ELR: 50 acks=all records before the stops "
                         f"({len(elr_acked)} acknowledged)")
            first, second = [b for b in brokers if b is not leader]
            first.signal(signal.SIGTERM, timeout=60)
            second.signal(signal.SIGTERM, timeout=60)

            def describe_line(broker):
                out = subprocess.run(
                    [weir, "topic", "describe", "--bootstrap-server", f"127.0.0.1:{broker.port}",
                     "--topic", TOPIC], capture_output=True, text=True, timeout=30).stdout
                return next((line for line in out.splitlines() if "\tPartition: 0\t" in line), "")

            def field(line, name):
                return line.split(f"\t{name}: ")[1].split("\t")[0] if f"\t{name}: " in line else None

            line = wait_until(lambda: (d := describe_line(leader)) and
                              field(d, "Elr") == str(second.node) and d, 30)
            checks.check(bool(line), f"ELR: the follower that left an ISR below "
                         f"min.insync.replicas is eligible ({line or describe_line(leader)})")
            leader.signal(signal.SIGKILL)
            first.start()
            offline = wait_until(lambda: (d := describe_line(first)) and
                                 field(d, "Leader") == "none" and
                                 field(d, "Elr") == ",".join(
                                     str(b) for b in replicas_of(kcat_path, [first])
                                     if b in (leader.node, second.node)) and d, 60)
            checks.check(bool(offline), f"ELR: the leader killed, the partition is offline with "
                         f"the leader and the stopped follower eligible "
                         f"({offline or describe_line(first)})")
            time.sleep(3)
            still = describe_line(first)
            checks.check(field(still, "Leader") == "none",
                         f"ELR: the follower that was out of the ELR does not lead ({still})")
            second.start()
            led = wait_until(lambda: (d := describe_line(first)) and
                             field(d, "Leader") == str(second.node) and d, 60)
            checks.check(bool(led), f"ELR: the eligible follower, back after a clean shutdown, "
                         f"leads ({led or describe_line(first)})")
            # The new leader's ISR is below min.insync.replicas: its high watermark stays
            # where it knew it (KIP-966's strict rule) until the others are back in sync.
            leader.start()
            whole = wait_until(lambda: (s := partition_state(kcat_path, brokers)) and
                               len(s[2]) == 3 and s, 60)
            checks.check(bool(whole), f"ELR: all three replicas in sync again ({whole})")
            # kcat reads to the high watermark and exits (-e); a bound, not a hang.
            def read_log():
                try:
                    out = subprocess.run(
                        [kcat_path, "-C", "-b", bootstrap, "-t", TOPIC, "-p", "0", "-o",
                         "beginning", "-e", "-q", "-f", "%o %s\\n"],
                        capture_output=True, text=True, timeout=60).stdout
                except subprocess.TimeoutExpired:
                    return {}
                log = {}
                for line in out.splitlines():
                    offset, _, value = line.partition(" ")
                    if offset.isdigit():
                        log[int(offset)] = value
                return log
            after_elr = wait_until(lambda: (log := read_log()) and all(
                log.get(o) == v for v, o in elr_acked.items()) and log, 60)
            elr_log = after_elr or read_log()
            lost = [v for v, o in elr_acked.items() if elr_log.get(o) != v]
            checks.check(not lost, f"ELR: every acks=all record is at its offset after the ELR "
                         f"election ({len(lost)} of {len(elr_acked)} missing, e.g. {lost[:3]})")

            # Reassignment (weir partition reassign, as kafka-reassign-partitions): the
            # partition leaves one broker — its copy is deleted there — and comes back to
            # it: the new replica fetches everything, joins the ISR, and only then is the
            # reassignment complete. Nothing acknowledged is lost on the way.
            def weir_reassign(*args):
                return subprocess.run(
                    [weir, "partition", "reassign", "--bootstrap-server",
                     f"127.0.0.1:{brokers[0].port}", *args],
                    capture_output=True, text=True, timeout=60)
            order = replicas_of(kcat_path, brokers)
            kept, dropped = order[:2], order[2]
            shrink = f"{TOPIC}:0=" + ",".join(str(b) for b in kept)
            started = weir_reassign("--execute", "--assignment", shrink)
            checks.check(started.returncode == 0 and "Successfully started" in started.stdout,
                         f"reassign to {kept}: {started.stdout.strip()}{started.stderr.strip()}")
            moved = wait_until(lambda: (s := partition_state(kcat_path, brokers)) and
                               s[1] == sorted(kept) and s, 30)
            checks.check(bool(moved), f"the partition left broker {dropped} ({moved})")
            gone = wait_until(lambda: not os.path.exists(
                os.path.join(by_id[dropped].data, f"{TOPIC}-0")), 30)
            checks.check(bool(gone), f"broker {dropped} deleted its copy")
            grow = f"{TOPIC}:0=" + ",".join(str(b) for b in kept + [dropped])
            started = weir_reassign("--execute", "--assignment", grow)
            checks.check(started.returncode == 0 and "Successfully started" in started.stdout,
                         f"reassign back to {kept + [dropped]}: {started.stdout.strip()}"
                         f"{started.stderr.strip()}")
            done = wait_until(lambda: weir_reassign("--verify", "--assignment", grow).returncode
                              == 0, 60)
            verified = weir_reassign("--verify", "--assignment", grow)
            checks.check(bool(done) and "is completed" in verified.stdout,
                         f"the added replica caught up and the reassignment completed: "
                         f"{verified.stdout.strip().splitlines()[-1:]}")
            listed = weir_reassign("--list")
            checks.check("No partition reassignment is in progress" in listed.stdout,
                         f"weir partition reassign --list: {listed.stdout.strip()}")
            state = wait_until(lambda: (s := partition_state(kcat_path, brokers)) and
                               len(s[2]) == 3 and s, 30)
            checks.check(bool(state), f"all three replicas in sync after the reassignment "
                         f"({state or partition_state(kcat_path, brokers)})")
            moved_log = wait_until(lambda: (log := read_log()) and all(
                log.get(o) == v for o, v in elr_log.items()) and log, 60)
            final_log = moved_log or read_log()
            changed = [o for o, v in elr_log.items() if final_log.get(o) != v]
            checks.check(not changed, f"after the reassignment every record read before it is "
                         f"at its offset ({len(changed)} of {len(elr_log)} differ, e.g. "
                         f"{changed[:3]})")
            bad = weir_reassign("--execute", "--assignment", f"{TOPIC}:0=4,4,5")
            checks.check(bad.returncode != 0 and "INVALID_REPLICA_ASSIGNMENT" in bad.stdout,
                         f"a broker named twice is refused: {bad.stdout.strip()}")

            # CreatePartitions on the replicated topic: the new partition has the topic's
            # replication factor, all in sync, and takes acks=all writes.
            error = grow_topic(admin_module, bootstrap, TOPIC, 2)
            checks.check(error is None, f"the replicated topic grows to 2 partitions ({error})")

            def second_partition():
                for broker in brokers:
                    listing = metadata(kcat_path, broker, TOPIC)
                    for topic in (listing or {}).get("topics", []):
                        for p in topic.get("partitions", []):
                            if p["partition"] == 1:
                                return sorted(r["id"] for r in p["replicas"]), sorted(
                                    r["id"] for r in p["isrs"])
                return None
            grown = wait_until(lambda: (s := second_partition()) and len(s[0]) == 3 and
                               s[0] == s[1] and s, 30)
            checks.check(bool(grown), f"partition 1 has three replicas, all in sync ({grown})")
            p = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                          "message.timeout.ms": 20000})
            outcome = []
            p.produce(TOPIC, value=b"on-partition-1", partition=1,
                      on_delivery=lambda err, msg: outcome.append(err))
            p.flush(30)
            checks.check(outcome == [None], f"and takes an acks=all write ({outcome})")
        finally:
            for n in brokers + controllers:
                if n.process is not None and n.process.poll() is None:
                    n.process.kill()
                    n.process.wait()
    checks.finish()


if __name__ == "__main__":
    main()
