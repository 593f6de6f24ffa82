#!/usr/bin/python3
"""weir's own group consumer and `weir group` against a real weir server (one node).

Two `weir consume --group` processes split a 4-partition topic; one is killed (SIGKILL)
and the other takes over every partition and reads the rest with no gap. `weir group
describe` shows committed offsets, log end and lag of a live group; reset-offsets
--dry-run changes nothing and --execute moves the offsets (kafka-python then reads from
there); delete-offsets and delete work; bad input gets a clear error. Finally a
kafka-python member and a `weir consume --group` member split one topic, with either
one as the group's leader, and so do a confluent-kafka (librdkafka) member and a weir
one (the assignment encoding is wire compatible both ways). `--max-messages` commits
exactly what was printed, and a live member rides out a broker restart.

usage: group_cli_test.py path/to/weir
"""

import os
import signal
import subprocess
import threading
import time

import harness

TOPIC = "clicks"
PARTITIONS = 4
FAST = ["--consumer-property", "session.timeout.ms=6000",
        "--consumer-property", "heartbeat.interval.ms=500",
        "--consumer-property", "auto.commit.interval.ms=300"]


class WeirMember:
    """One `weir consume --group` process; a thread collects its (partition, offset,
    value) lines."""

    def __init__(self, weir, bootstrap, group, topic, extra=()):
        args = [weir, "consume", "--bootstrap-server", bootstrap, "--group", group,
                "--topic", topic, "--from-beginning",
                "--property", "print.partition=true", "--property", "print.offset=true"]
        args += FAST + list(extra)
        self.stderr_path = f"/tmp/weir-group-cli-{os.getpid()}-{id(self)}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL)
        self.records = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            parts = line.decode(errors="replace").rstrip("\n").split("\t")
            if len(parts) != 3:
                continue
            partition = int(parts[0].split(":")[1])
            offset = int(parts[1].split(":")[1])
            with self.lock:
                self.records.append((partition, offset, parts[2]))

    def got(self):
        with self.lock:
            return list(self.records)

    def kill(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.thread.join(timeout=10)
        return code

    def stderr(self):
        self._stderr.flush()
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def cleanup(self):
        if self.proc.poll() is None:
            self.kill()
        self._stderr.close()
        try:
            os.unlink(self.stderr_path)
        except OSError:
            pass


def run(weir, *args, timeout=60):
    r = subprocess.run([weir, *args], capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def describe_rows(weir, b, group):
    """`weir group describe`'s partition rows: {(topic, partition): row dict}."""
    code, out, err = run(weir, "group", "describe", group, "--bootstrap-server", b)
    if code != 0:
        return code, {}, out + err
    lines = out.splitlines()
    header = None
    rows = {}
    for line in lines:
        cells = line.split()
        if cells[:2] == ["GROUP", "TOPIC"]:
            header = cells
            continue
        if header and len(cells) == len(header):
            row = dict(zip(header, cells))
            rows[(row["TOPIC"], int(row["PARTITION"]))] = row
    return code, rows, out


def members(weir, b, group):
    """`weir group describe --members`: {member id: (client id, [partitions])}."""
    code, out, err = run(weir, "group", "describe", group, "--members", "--bootstrap-server", b)
    found = {}
    if code != 0:
        return found, out + err
    header = None
    for line in out.splitlines():
        cells = line.split()
        if cells[:2] == ["GROUP", "CONSUMER-ID"]:
            header = cells
            continue
        if header and len(cells) == len(header):
            row = dict(zip(header, cells))
            parts = [] if row["ASSIGNMENT"] == "-" else row["ASSIGNMENT"].split(",")
            found[row["CONSUMER-ID"]] = (row["CLIENT-ID"], sorted(parts))
    return found, out


def wait_for(what, timeout_s, interval=0.3):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(interval)
    return what()


def split_evenly(found, topic, count=2, each=2):
    return (len(found) == count
            and all(len(parts) == each for _, parts in found.values())
            and sorted(p for _, parts in found.values() for p in parts)
            == sorted(f"{topic}-{p}" for p in range(count * each)))


def main():
    weir = harness.weir_binary()
    harness.require_module("kafka")
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    t = harness.Checks()
    cleanup = []
    with harness.WeirServer(weir, overrides=["group.initial.rebalance.delay.ms=200"]) as server:
        b = server.bootstrap
        server.create_topic(TOPIC, partitions=PARTITIONS)
        producer = KafkaProducer(bootstrap_servers=b, acks="all", value_serializer=str.encode)

        def produce(topic, first, count):
            for i in range(first, first + count):
                producer.send(topic, value=f"r{i}", partition=i % PARTITIONS)
            producer.flush(timeout=60)

        try:
            # --- two weir members split the topic -------------------------------------
            a = WeirMember(weir, b, "g1", TOPIC)
            cleanup.append(a)
            c = WeirMember(weir, b, "g1", TOPIC)
            cleanup.append(c)
            found = wait_for(lambda: (lambda f: f if split_evenly(f[0], TOPIC) else None)(
                members(weir, b, "g1")), 60)
            t.check(found and split_evenly(found[0], TOPIC),
                    f"two weir members each get 2 of the 4 partitions: {found and found[1]}")
            produce(TOPIC, 0, 200)
            wait_for(lambda: len(a.got()) + len(c.got()) >= 200, 60)
            pa = {p for p, _, _ in a.got()}
            pc = {p for p, _, _ in c.got()}
            t.equal(len(a.got()) + len(c.got()), 200, "the two members read 200 records together")
            t.check(len(pa) == 2 and len(pc) == 2 and not (pa & pc),
                    f"each member reads only its own 2 partitions: {sorted(pa)} / {sorted(pc)}")

            # --- kill -9 one; the other takes over everything, no gaps ------------------
            a.kill()
            produce(TOPIC, 200, 200)
            wait_for(lambda: {f"r{i}" for i in range(400)} <= {v for _, _, v in a.got() + c.got()}, 90)
            values = {v for _, _, v in a.got() + c.got()}
            missing = sorted({f"r{i}" for i in range(400)} - values)
            t.check(not missing, f"after the kill the survivor reads the rest with no gap "
                                 f"(missing {missing[:5]})")
            t.equal({p for p, _, _ in c.got()}, set(range(PARTITIONS)),
                    "the survivor took over all 4 partitions")
            # Per partition, the survivor's offsets are contiguous from its start.
            gaps = []
            for p in range(PARTITIONS):
                offsets = sorted({o for q, o, _ in c.got() if q == p})
                if offsets and offsets != list(range(offsets[0], offsets[-1] + 1)):
                    gaps.append(p)
            t.equal(gaps, [], "the survivor's offsets have no holes in any partition")
            found = members(weir, b, "g1")[0]
            t.equal(len(found), 1, "the killed member left the group (session timeout)")

            # --- describe: committed offsets, log end, lag of the live group -------------
            def caught_up():
                code, rows, _ = describe_rows(weir, b, "g1")
                return rows if len(rows) == 4 and all(r["LAG"] == "0" for r in rows.values()) else None
            rows = wait_for(caught_up, 30)
            t.check(rows and all(r["CURRENT-OFFSET"] == "100" and r["LOG-END-OFFSET"] == "100"
                                 for r in rows.values()),
                    f"describe: the live member committed 100 per partition, lag 0: {rows}")
            t.check(rows and all(r["CONSUMER-ID"] != "-" for r in rows.values()),
                    "describe names the member of each partition")
            # A live kafka-python member that stops committing: its lag is what follows.
            lagging = KafkaConsumer(TOPIC, bootstrap_servers=b, group_id="lagging",
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    session_timeout_ms=10000, heartbeat_interval_ms=500)
            got = 0
            deadline = time.monotonic() + 60
            while got < 400 and time.monotonic() < deadline:
                got += sum(len(v) for v in lagging.poll(timeout_ms=500).values())
            lagging.commit()
            produce(TOPIC, 400, 40)
            code, rows, out = describe_rows(weir, b, "lagging")
            t.equal(code, 0, "describe of a live kafka-python group")
            t.equal(sum(int(r["LAG"]) for r in rows.values()), 40,
                    f"lag is the 40 records produced since its commit: {out}")
            t.check(all(int(r["LOG-END-OFFSET"]) - int(r["CURRENT-OFFSET"]) == int(r["LAG"])
                        for r in rows.values()), "lag = log end - committed, per partition")

            # --- bad input -------------------------------------------------------------
            code, out, err = run(weir, "group", "reset-offsets", "lagging", "--topic", TOPIC,
                                 "--to-earliest", "--execute", "--bootstrap-server", b)
            t.check(code == 1 and "Empty" in err and "Stable" in err,
                    f"reset-offsets of a group with members fails clearly: {code} {err.strip()}")
            code, out, err = run(weir, "group", "describe", "nosuchgroup", "--bootstrap-server", b)
            t.check(code == 1 and "GROUP_ID_NOT_FOUND" in err,
                    f"describe of an unknown group: {code} {err.strip()}")
            code, out, err = run(weir, "group", "reset-offsets", "g1", "--topic", TOPIC,
                                 "--to-earliest", "--bootstrap-server", b)
            t.check(code == 2 and "--dry-run" in err, f"reset-offsets needs --dry-run or --execute: {err.strip()}")
            lagging.close(autocommit=False)

            # --- the survivor stops cleanly: commits and leaves -----------------------
            t.equal(c.stop(), 0, "weir consume --group exits 0 on SIGTERM")
            code, out, err = run(weir, "group", "describe", "g1", "--members", "--bootstrap-server", b)
            t.check("is Empty" in out, f"the group is Empty after its last member left: {out}")
            _, rows, _ = describe_rows(weir, b, "g1")
            t.check(rows and all(r["CURRENT-OFFSET"] == "110" for r in rows.values()),
                    f"the last member committed everything it printed (110 each): {rows}")

            # --- reset-offsets: dry run, then execute ----------------------------------
            code, out, err = run(weir, "group", "reset-offsets", "g1", "--topic", TOPIC,
                                 "--to-earliest", "--dry-run", "--bootstrap-server", b)
            t.check(code == 0 and out.count("g1") == 4, f"dry run prints the 4 new offsets: {out}")
            _, rows, _ = describe_rows(weir, b, "g1")
            t.check(rows and all(r["CURRENT-OFFSET"] == "110" for r in rows.values()),
                    "the dry run changed nothing")
            code, out, err = run(weir, "group", "reset-offsets", "g1", "--topic", TOPIC,
                                 "--to-offset", "10", "--execute", "--bootstrap-server", b)
            t.equal(code, 0, f"reset-offsets --to-offset 10 --execute: {err}")
            _, rows, _ = describe_rows(weir, b, "g1")
            t.check(rows and all(r["CURRENT-OFFSET"] == "10" and r["LAG"] == "100"
                                 for r in rows.values()),
                    f"describe shows the reset offsets (10, lag 100): {rows}")
            code, out, err = run(weir, "group", "reset-offsets", "g1", "--topic", f"{TOPIC}:1",
                                 "--shift-by", "-4", "--execute", "--bootstrap-server", b)
            _, rows, _ = describe_rows(weir, b, "g1")
            t.check(code == 0 and rows.get((TOPIC, 1), {}).get("CURRENT-OFFSET") == "6"
                    and rows.get((TOPIC, 0), {}).get("CURRENT-OFFSET") == "10",
                    f"--shift-by -4 on partition 1 only: {rows}")
            reader = KafkaConsumer(bootstrap_servers=b, group_id="g1", enable_auto_commit=False,
                                   auto_offset_reset="latest")
            tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
            reader.assign(tps)
            first = {}
            deadline = time.monotonic() + 30
            while len(first) < PARTITIONS and time.monotonic() < deadline:
                for tp, records in reader.poll(timeout_ms=500).items():
                    first.setdefault(tp.partition, records[0].offset)
            reader.close(autocommit=False)
            t.equal(first, {0: 10, 1: 6, 2: 10, 3: 10},
                    "kafka-python in group g1 starts at the reset offsets")

            # --to-datetime: every record is newer than 2000, none is from 2999 (the log end).
            for when, want in (("2000-01-01T00:00:00", "0"), ("2999-01-01T00:00:00.000Z", "110")):
                code, out, err = run(weir, "group", "reset-offsets", "g1", "--topic", TOPIC,
                                     "--to-datetime", when, "--execute", "--bootstrap-server", b)
                _, rows, _ = describe_rows(weir, b, "g1")
                t.check(code == 0 and len(rows) == 4
                        and all(r["CURRENT-OFFSET"] == want for r in rows.values()),
                        f"--to-datetime {when}: every partition at {want}: {err}{rows}")

            # --- delete-offsets and delete -----------------------------------------------
            code, out, err = run(weir, "group", "delete-offsets", "g1", "--topic", f"{TOPIC}:0",
                                 "--bootstrap-server", b)
            t.check(code == 0 and "Successful" in out, f"delete-offsets of partition 0: {out}{err}")
            _, rows, _ = describe_rows(weir, b, "g1")
            t.check((TOPIC, 0) not in rows and (TOPIC, 1) in rows,
                    f"partition 0's offset is gone, the others stay: {sorted(rows)}")
            code, out, err = run(weir, "group", "list", "--bootstrap-server", b)
            t.check("g1" in out.split(), f"list names g1: {out}")
            code, out, err = run(weir, "group", "list", "--state", "--bootstrap-server", b)
            t.check(["g1", "Empty", "consumer"] in [line.split() for line in out.splitlines()],
                    f"list --state: g1 is an Empty consumer group: {out}")
            code, out, err = run(weir, "group", "delete", "g1", "--bootstrap-server", b)
            t.check(code == 0 and "successful" in out, f"delete g1: {out}{err}")
            code, out, err = run(weir, "group", "list", "--bootstrap-server", b)
            t.check("g1" not in out.split(), f"g1 is gone from the list: {out}")
            code, out, err = run(weir, "group", "delete", "g1", "--bootstrap-server", b)
            t.check(code == 1 and "GROUP_ID_NOT_FOUND" in err, f"deleting it again: {err.strip()}")

            # --- --max-messages commits exactly what was printed -------------------------
            server.create_topic("counted", partitions=1)
            for i in range(20):
                producer.send("counted", value=f"c{i}", partition=0)
            producer.flush(timeout=60)
            printed = []
            for _ in range(2):
                code, out, err = run(weir, "consume", "--bootstrap-server", b, "--group", "counter",
                                     "--topic", "counted", "--from-beginning", "--max-messages",
                                     "7", "--timeout-ms", "20000")
                t.equal(code, 0, f"weir consume --group --max-messages 7 exits 0: {err}")
                printed += out.split()
            t.equal(printed, [f"c{i}" for i in range(14)],
                    "two runs of --max-messages 7 print records 0-13 once each, in order")
            _, rows, _ = describe_rows(weir, b, "counter")
            t.equal(rows.get(("counted", 0), {}).get("CURRENT-OFFSET"), "14",
                    "the committed offset is the next record not printed")

            # --- mixed clients: kafka-python and weir in one group ------------------------
            server.create_topic("mixed", partitions=PARTITIONS)
            stop = threading.Event()
            python_got = []

            def python_member(consumer):
                while not stop.is_set():
                    for records in consumer.poll(timeout_ms=200).values():
                        python_got.extend((r.partition, r.value.decode()) for r in records)

            def python_consumer():
                return KafkaConsumer("mixed", bootstrap_servers=b, group_id="mix",
                                     auto_offset_reset="earliest", session_timeout_ms=10000,
                                     heartbeat_interval_ms=500, client_id="kafka-python-member")

            for round_name in ("kafka-python leads", "weir leads"):
                stop.clear()
                python_got.clear()
                kp = python_consumer()
                worker = threading.Thread(target=python_member, args=(kp,), daemon=True)
                worker.start()
                if round_name == "kafka-python leads":
                    time.sleep(2)  # kafka-python's group first: it is the leader
                    w = WeirMember(weir, b, "mix", "mixed")
                    cleanup.append(w)
                found = wait_for(lambda: (lambda f: f if split_evenly(f[0], "mixed") else None)(
                    members(weir, b, "mix")), 60)
                t.check(found and split_evenly(found[0], "mixed"),
                        f"{round_name}: kafka-python and weir split 'mixed' 2/2: {found and found[1]}")
                clients = sorted(client for client, _ in (found[0].values() if found else []))
                t.equal(clients, ["kafka-python-member", "weir-consume"],
                        f"{round_name}: the members are the two clients")
                # weir logs each assignment it gets, marking the generations it led.
                joins = [line for line in w.stderr().splitlines() if "assigned" in line]
                weir_led = bool(joins) and "(leader)" in joins[-1]
                t.equal(weir_led, round_name == "weir leads",
                        f"{round_name}: weir's last join {joins[-1:] }")
                base = len(w.got())
                first = 0 if round_name == "kafka-python leads" else 100
                produce("mixed", first, 100)
                wait_for(lambda: len(python_got) + len(w.got()) - base >= 100, 60)
                weir_parts = {p for p, _, v in w.got()[base:]}
                python_parts = {p for p, _ in python_got}
                values = {v for _, _, v in w.got()[base:]} | {v for _, v in python_got}
                t.check(len(weir_parts) == 2 and len(python_parts) == 2
                        and not (weir_parts & python_parts)
                        and values == {f"r{i}" for i in range(first, first + 100)},
                        f"{round_name}: each reads its own partitions, all 100 records: "
                        f"weir {sorted(weir_parts)} python {sorted(python_parts)}")
                stop.set()
                worker.join(timeout=10)
                kp.close()

            # --- librdkafka (confluent-kafka) and weir: its subscription is a later
            # ConsumerProtocol version than kafka-python's ---------------------------------
            try:
                import confluent_kafka
            except ImportError:
                confluent_kafka = None
                print("note: confluent_kafka is not installed; its rounds are skipped")
            if confluent_kafka is not None:
                ck_got = []

                def ck_member(consumer):
                    while not stop.is_set():
                        msg = consumer.poll(0.2)
                        if msg is not None and not msg.error():
                            ck_got.append((msg.partition(), msg.value().decode()))

                for round_name, first in (("weir leads confluent-kafka", 200),
                                          ("confluent-kafka leads weir", 300)):
                    stop.clear()
                    if round_name == "weir leads confluent-kafka":
                        ck_got.clear()
                        ck = confluent_kafka.Consumer({
                            "bootstrap.servers": b, "group.id": "mix",
                            "auto.offset.reset": "earliest", "session.timeout.ms": 10000,
                            "heartbeat.interval.ms": 500, "client.id": "confluent-member"})
                        ck.subscribe(["mixed"])
                    else:
                        # The weir member leaves; librdkafka alone leads the next
                        # generation, which a new weir member joins.
                        t.equal(w.stop(), 0, "the mixed group's weir member stops cleanly")
                        time.sleep(3)
                        w = WeirMember(weir, b, "mix", "mixed")
                        cleanup.append(w)
                    worker = threading.Thread(target=ck_member, args=(ck,), daemon=True)
                    worker.start()
                    found = wait_for(lambda: (lambda f: f if split_evenly(f[0], "mixed") else None)(
                        members(weir, b, "mix")), 60)
                    t.check(found and split_evenly(found[0], "mixed"),
                            f"{round_name}: the two split 'mixed' 2/2: {found and found[1]}")
                    clients = sorted(client for client, _ in (found[0].values() if found else []))
                    t.equal(clients, ["confluent-member", "weir-consume"],
                            f"{round_name}: the members are the two clients")
                    joins = [line for line in w.stderr().splitlines() if "assigned" in line]
                    weir_led = bool(joins) and "(leader)" in joins[-1]
                    t.equal(weir_led, round_name == "weir leads confluent-kafka",
                            f"{round_name}: weir's last join {joins[-1:]}")
                    base, ck_base = len(w.got()), len(ck_got)
                    produce("mixed", first, 100)
                    wait_for(lambda: len(ck_got) - ck_base + len(w.got()) - base >= 100, 60)
                    weir_parts = {p for p, _, _ in w.got()[base:]}
                    ck_parts = {p for p, _ in ck_got[ck_base:]}
                    values = {v for _, _, v in w.got()[base:]} | {v for _, v in ck_got[ck_base:]}
                    t.check(len(weir_parts) == 2 and len(ck_parts) == 2
                            and not (weir_parts & ck_parts)
                            and values == {f"r{i}" for i in range(first, first + 100)},
                            f"{round_name}: each reads its own partitions, all 100 records: "
                            f"weir {sorted(weir_parts)} confluent {sorted(ck_parts)}")
                    stop.set()
                    worker.join(timeout=10)
                ck.close()
            t.equal(w.stop(), 0, "the mixed group's weir member stops cleanly")

            # --- the broker restarts under a live member: it reconnects, finds the
            # coordinator again (which reloaded the group) and reads on ------------------
            server.create_topic("steady", partitions=2)
            s1 = WeirMember(weir, b, "steady", "steady")
            cleanup.append(s1)
            found = wait_for(lambda: (lambda f: f if len(f[0]) == 1 else None)(
                members(weir, b, "steady")), 60)
            t.check(found, "a weir member joins group 'steady'")
            for i in range(20):
                producer.send("steady", value=f"s{i}", partition=i % 2)
            producer.flush(timeout=60)
            wait_for(lambda: len(s1.got()) >= 20, 30)
            time.sleep(1)  # an auto commit after the reads
            producer.close()
            server.listen_port = server.port
            server.restart()
            producer = KafkaProducer(bootstrap_servers=b, acks="all", value_serializer=str.encode)
            for i in range(20, 40):
                producer.send("steady", value=f"s{i}", partition=i % 2)
            producer.flush(timeout=60)
            wait_for(lambda: {f"s{i}" for i in range(40)} <= {v for _, _, v in s1.got()}, 60)
            t.check({f"s{i}" for i in range(40)} <= {v for _, _, v in s1.got()},
                    f"after a broker restart the member reads on: {len(s1.got())} records")
            t.check(s1.proc.poll() is None, "the member is still running")
            t.equal(s1.stop(), 0, f"and stops cleanly: {s1.stderr()[-500:]}")
            _, rows, _ = describe_rows(weir, b, "steady")
            t.check(rows and all(r["CURRENT-OFFSET"] == "20" for r in rows.values()),
                    f"its commits after the restart hold: {rows}")
        finally:
            for member in cleanup:
                member.cleanup()
            producer.close()
    t.finish()


if __name__ == "__main__":
    main()
