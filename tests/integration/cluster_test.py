"""A KRaft cluster of real `weir server` processes on loopback, each from its own
server.properties: three controllers (process.roles=controller) and three brokers
(process.roles=broker) that follow the metadata log as observers, register with the
active controller and are unfenced once caught up. Driven by kcat and confluent-kafka's
AdminClient:
- kcat's metadata listing (-L -J) shows all three brokers;
- a topic created through a broker (forwarded to the controller) with replication
  factor 3 appears on every broker's listing with leaders spread over the brokers, and
  kcat produces to and consumes from it;
- kill -9 of the active controller: a new one is elected, admin operations keep working
  (another topic is created and the first grows), and kcat still lists all brokers;
- snapshots (KIP-630): every node snapshots its metadata image every 4 KiB of log
  (metadata.log.max.record.bytes.between.snapshots) and drops the log below; a broker
  killed while 40 topics are created comes back behind the leader's log start, is sent
  the leader's snapshot (FetchSnapshot), installs it, and lists every topic;
- SIGTERM stops every process cleanly (brokers first, by controlled shutdown).
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Checks, _die_with_parent, weir_binary  # noqa: E402
from quorum_test import describe_quorum, free_port, wait_for_leader  # noqa: E402
import wire  # noqa: E402


class Node:
    def __init__(self, weir, node, role, port, voters, root):
        self.weir, self.node, self.role, self.port = weir, node, role, port
        self.data = os.path.join(root, f"n{node}")
        self.config = os.path.join(root, f"n{node}.properties")
        listener = "CONTROLLER" if role == "controller" else "PLAINTEXT"
        with open(self.config, "w") as f:
            f.write(f"process.roles={role}\nnode.id={node}\n"
                    f"listeners={listener}://127.0.0.1:{port}\n"
                    f"controller.listener.names=CONTROLLER\n"
                    f"controller.quorum.voters={voters}\nlog.dirs={self.data}\n"
                    f"broker.heartbeat.interval.ms=500\nbroker.session.timeout.ms=4000\n"
                    f"auto.create.topics.enable=false\n"
                    f"metadata.log.max.record.bytes.between.snapshots=4096\n"
                    f"metadata.log.segment.bytes=8192\n")
        self.process = None

    def start(self):
        self.log = open(self.data + ".out", "ab")
        self.process = subprocess.Popen([self.weir, "server", self.config], stdout=self.log,
                                        stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)

    def signal(self, sig, timeout=30):
        self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        self.log.close()
        return code

    def snapshots(self):
        """The end offsets of the metadata snapshots in this node's log directory."""
        directory = os.path.join(self.data, "__cluster_metadata-0")
        names = os.listdir(directory) if os.path.isdir(directory) else []
        return sorted(int(n.split("-")[0]) for n in names if n.endswith(".checkpoint"))

    def output(self):
        with open(self.data + ".out", "rb") as f:
            return f.read().decode(errors="replace")


def init_producer_id(port):
    """InitProducerId v0 (no transactional id) over a raw socket: (error, producer id)."""
    conn = wire.Connection(port)
    try:
        conn.correlation += 1
        body = wire.i16(-1) + wire.i32(60000)
        conn.send_raw(wire.frame(22, 0, conn.correlation, body))
        _, data = conn.recv_response()
    finally:
        conn.close()
    r = wire.Reader(data)
    r.i32()
    return r.i16(), r.i64()


def kcat(kcat_path, *args, stdin=None, timeout=60):
    p = subprocess.run([kcat_path, *args], input=stdin, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def metadata(kcat_path, broker, topic=None):
    args = ["-b", f"127.0.0.1:{broker.port}", "-L", "-J", "-m", "5"]
    if topic:
        args += ["-t", topic]
    code, out, _ = kcat(kcat_path, *args, timeout=30)
    if code != 0:
        return None
    try:
        return json.loads(out)
    except ValueError:
        return None


def wait_until(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return None


def create_topic(admin_module, bootstrap, name, partitions, replication):
    admin = admin_module.AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [admin_module.NewTopic(name, num_partitions=partitions, replication_factor=replication)],
        request_timeout=30, operation_timeout=30)
    try:
        futures[name].result(timeout=60)
        return None
    except Exception as error:  # noqa: BLE001 — the message is the test's evidence
        return str(error)


def grow_topic(admin_module, bootstrap, name, count):
    admin = admin_module.AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_partitions([admin_module.NewPartitions(name, count)],
                                      request_timeout=30, operation_timeout=30)
    try:
        futures[name].result(timeout=60)
        return None
    except Exception as error:  # noqa: BLE001
        return str(error)


def main():
    weir = weir_binary()
    kcat_path = harness.require_program("kcat")
    confluent = harness.require_module("confluent_kafka")
    import confluent_kafka.admin as admin_module
    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="weir-cluster-") as root:
        ports = {n: free_port() for n in range(1, 7)}
        voters = ",".join(f"{n}@127.0.0.1:{ports[n]}" for n in (1, 2, 3))
        controllers = [Node(weir, n, "controller", ports[n], voters, root) for n in (1, 2, 3)]
        brokers = [Node(weir, n, "broker", ports[n], voters, root) for n in (4, 5, 6)]
        bootstrap = ",".join(f"127.0.0.1:{b.port}" for b in brokers)
        everyone = controllers + brokers
        try:
            for n in everyone:
                n.start()
            leader, answer = wait_for_leader(controllers)
            if not checks.check(leader is not None, "a leader is elected among 3 controllers"):
                checks.finish()

            def all_brokers_listed(broker):
                listing = metadata(kcat_path, broker)
                ids = sorted(b["id"] for b in listing["brokers"]) if listing else []
                return listing if ids == [4, 5, 6] else None

            for b in brokers:
                listing = wait_until(lambda: all_brokers_listed(b), 30)
                checks.check(listing is not None,
                             f"kcat -L on broker {b.node} lists brokers 4, 5, 6 (registered, "
                             f"unfenced)")

            # weir cluster quorum (as kafka-metadata-quorum.sh describe).
            controller_list = ",".join(f"127.0.0.1:{c.port}" for c in controllers)

            def quorum(*flags):
                p = subprocess.run([weir, "cluster", "quorum", "--bootstrap-controller",
                                    controller_list, *flags], capture_output=True, timeout=30)
                return p.returncode, p.stdout.decode()

            def observers_listed():
                code, out = quorum()
                return out if code == 0 and "CurrentObservers:       [4,5,6]" in out else None

            status = wait_until(observers_listed, 20)
            if checks.check(status is not None,
                            f"weir cluster quorum lists the brokers as observers ({status})"):
                # "-" alone means no cluster id; a real id may itself begin with "-"
                # (base64url), which once failed this check at random.
                checks.check(not re.search(r"^ClusterId:\s+-\s*$", status, re.M) and
                             f"LeaderId:               {leader.node}\n" in status and
                             "CurrentVoters:          [1,2,3]" in status,
                             "and names the cluster, the leader and the voters")
            # Asked of a follower alone, it follows the follower's hint to the leader.
            follower = next(c for c in controllers if c.node != leader.node)
            p = subprocess.run([weir, "cluster", "quorum", "--bootstrap-controller",
                                f"127.0.0.1:{follower.port}"], capture_output=True, timeout=30)
            checks.check(p.returncode == 0 and
                         f"LeaderId:               {leader.node}\n" in p.stdout.decode(),
                         f"weir cluster quorum asked of follower {follower.node} answers from the "
                         f"leader ({p.stdout.decode().strip()[:80]} {p.stderr.decode().strip()})")
            code, out = quorum("--replication")
            rows = [line.split() for line in out.splitlines()[1:]]
            checks.check(code == 0 and sorted(int(r[0]) for r in rows) == [1, 2, 3, 4, 5, 6] and
                         sorted(r[-1] for r in rows).count("Observer") == 3,
                         f"--replication has a row per voter and observer ({out.strip()})")

            error = create_topic(admin_module, bootstrap, "orders", 6, 3)
            checks.check(error is None, f"AdminClient creates 'orders' (6 partitions, RF 3): {error}")

            def topic_everywhere(name, count):
                for b in brokers:
                    listing = metadata(kcat_path, b, name)
                    if not listing:
                        return None
                    topics = [t for t in listing["topics"] if t["topic"] == name]
                    if not topics or len(topics[0].get("partitions", [])) != count:
                        return None
                    if any(p["leader"] not in (4, 5, 6) for p in topics[0]["partitions"]):
                        return None
                return topics[0]

            topic = wait_until(lambda: topic_everywhere("orders", 6), 20)
            if checks.check(topic is not None, "every broker lists 'orders' with 6 led partitions"):
                leaders = sorted({p["leader"] for p in topic["partitions"]})
                checks.equal(leaders, [4, 5, 6], "leaders are spread over the three brokers")
                checks.check(all(len(p["replicas"]) == 3 for p in topic["partitions"]),
                             "every partition has three replicas")

            lines = b"".join(f"record-{i}\n".encode() for i in range(300))
            code, _, err = kcat(kcat_path, "-b", bootstrap, "-P", "-t", "orders", "-p", "-1",
                                stdin=lines)
            checks.equal(code, 0, f"kcat produces 300 records to 'orders' ({err.decode()[-200:]})")
            code, out, err = kcat(kcat_path, "-b", bootstrap, "-C", "-t", "orders", "-o",
                                  "beginning", "-e", "-q")
            got = sorted(out.decode().split())
            checks.equal(len(got), 300, "kcat consumes the 300 records from the partition leaders")

            # Idempotent producers: ids come from the controller's blocks, so producers
            # on different brokers never share one.
            answers = [init_producer_id(b.port) for b in brokers for _ in range(2)]
            ids = [pid for error, pid in answers]
            checks.check(all(error == 0 for error, _ in answers) and len(set(ids)) == len(ids),
                         f"InitProducerId on each broker: distinct producer ids {ids}")
            producer = confluent.Producer({"bootstrap.servers": bootstrap,
                                           "enable.idempotence": True})
            delivered = []
            for i in range(200):
                producer.produce("orders", value=f"idem-{i}".encode(),
                                 on_delivery=lambda err, msg: delivered.append(err))
            producer.flush(30)
            del producer
            checks.check(len(delivered) == 200 and all(e is None for e in delivered),
                         "an idempotent producer delivers 200 records across the leaders")

            # kill -9 the active controller.
            epoch = answer[1]
            started = time.time()
            leader.signal(signal.SIGKILL)
            survivors = [c for c in controllers if c is not leader]
            second, answer2 = wait_for_leader(survivors, newer_than=epoch)
            if checks.check(second is not None, "kill -9 of the active controller elects another"):
                print(f"     new controller {second.node} (epoch {answer2[1]}) after "
                      f"{time.time() - started:.2f} s", flush=True)
                code, out = quorum()
                checks.check(code == 0 and f"LeaderId:               {second.node}\n" in out,
                             "weir cluster quorum names the new leader")
            error = create_topic(admin_module, bootstrap, "payments", 3, 2)
            checks.check(error is None, f"after the failover AdminClient creates 'payments': {error}")
            error = grow_topic(admin_module, bootstrap, "orders", 8)
            checks.check(error is None, f"and grows 'orders' to 8 partitions: {error}")
            checks.check(wait_until(lambda: topic_everywhere("payments", 3), 20) is not None,
                         "every broker lists 'payments'")
            checks.check(wait_until(lambda: topic_everywhere("orders", 8), 20) is not None,
                         "every broker lists 'orders' with 8 partitions")
            listing = wait_until(lambda: all_brokers_listed(brokers[0]), 20)
            checks.check(listing is not None,
                         "kcat -L still lists all three brokers after the failover")
            # The killed controller comes back and follows.
            leader.start()

            # kill -9 a broker: its session expires (broker.session.timeout.ms=4000), the
            # controller fences it and moves its leaderships; restarted, it registers
            # again and is unfenced once it has caught up.
            victim = brokers[2]
            victim.signal(signal.SIGKILL)

            def fenced():
                listing = metadata(kcat_path, brokers[0], "orders")
                if not listing or sorted(b["id"] for b in listing["brokers"]) != [4, 5]:
                    return None
                topics = [t for t in listing["topics"] if t["topic"] == "orders"]
                leaders = {p["leader"] for p in topics[0]["partitions"]} if topics else {6}
                return listing if 6 not in leaders else None

            checks.check(wait_until(fenced, 20) is not None,
                         "a killed broker is fenced: kcat lists 4 and 5, and no partition of "
                         "'orders' is led by 6")
            # While it is down the log moves on by many snapshots' worth: 40 topics.
            before = victim.snapshots()
            errors = [create_topic(admin_module, bootstrap, f"t{i}", 2, 2) for i in range(40)]
            checks.check(all(e is None for e in errors),
                         f"40 more topics are created while it is down: {set(errors)}")
            leader_now, _ = wait_for_leader(controllers)
            checks.check(leader_now is not None and leader_now.snapshots() and
                         max(leader_now.snapshots()) > max(before, default=0),
                         f"the active controller took snapshots past the broker's "
                         f"({before} -> {leader_now.snapshots() if leader_now else None})")
            seen = len(victim.output())
            victim.start()
            checks.check(wait_until(lambda: all_brokers_listed(brokers[0]), 30) is not None,
                         "restarted, it registers again and kcat lists all three brokers")

            def caught_up_by_snapshot():
                if "installed metadata snapshot" not in victim.output()[seen:]:
                    return None
                listing = metadata(kcat_path, victim)
                names = {t["topic"] for t in listing["topics"]} if listing else set()
                return names if all(f"t{i}" in names for i in range(40)) else None

            checks.check(wait_until(caught_up_by_snapshot, 30) is not None,
                         "it was behind the leader's log start: it installed the leader's "
                         "snapshot and kcat -L on it lists all 40 new topics")
        finally:
            for n in brokers + controllers:
                if n.process is not None and n.process.poll() is None:
                    n.signal(signal.SIGTERM)
        for n in everyone:
            checks.check("stopped cleanly" in n.output() or n.process.returncode == -signal.SIGKILL,
                         f"node {n.node} ({n.role}) stopped cleanly")
        if checks.failures:
            for n in everyone:
                print(f"--- node {n.node} output (tail)\n{n.output()[-1500:]}")
    checks.finish()


if __name__ == "__main__":
    main()
