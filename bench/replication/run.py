#!/usr/bin/python3
"""Partition replication benchmark: weir as real processes on loopback (not a test).

Starts three controllers and three brokers (`weir server`, one process each, fixed free
ports on 127.0.0.1, a temporary directory for data and logs) and measures, in one run:

  1. peak produce throughput with acks=all to a one-partition topic with replication
     factor 3 (min.insync.replicas=2) and to one with replication factor 1, with
     `weir perf produce` and, when cc and librdkafka-dev are there, librdkafka's
     rdkperf (/work/shared/tools/rdkperf.c, compiled into the temporary directory);
     the ratio RF3/RF1 per client. Each run gets a new topic, warmed up first (single
     acks=all records until they are acknowledged quickly) so that no run times the
     followers' start on it;
  2. produce latency p50/p99 at half of each topic's measured peak (`weir perf produce
     --throughput peak/2`);
  3. failover: an idempotent acks=all confluent-kafka producer sends one small record
     every 5 ms to an RF=3, min.insync.replicas=2 topic; the partition leader is killed
     with SIGKILL; the figure is the time from the kill to the first delivery report of
     success for a record whose produce() call came after the kill. On the way: when
     the metadata names a new leader, and when that leader answers ListOffsets (its
     high watermark has reached its epoch's start). The killed broker is restarted and
     the next kill waits until it is back in the ISR.

Prints a table and, last, one JSON line with every figure. All processes and the
temporary directory are removed on exit, Ctrl-C included.

  /usr/bin/python3 bench/replication/run.py [--weir build/src/cli/weir] [--records N]
      [--record-size B] [--kills K] [--session-timeout-ms MS] [--heartbeat-ms MS] ...
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_WEIR = os.path.join(REPO, "build", "src", "cli", "weir")
RDKPERF_SOURCE = "/work/shared/tools/rdkperf.c"
CONTROLLER_IDS = (1, 2, 3)
BROKER_IDS = (4, 5, 6)
FAILOVER_TOPIC = "failover"
PROBE_INTERVAL_S = 0.005
START_TIMEOUT_S = 60.0
ISR_TIMEOUT_S = 120.0
CONTROLLER_READY = re.compile(r"weir server: controller (\d+) of quorum \S+ .* on (\S+),")
BROKER_READY = re.compile(r"weir server: node (\d+) of cluster \S+ serving on (\S+),")
# The broker settings the failover and replication figures depend on, at weir's defaults
# (docs/config.md); the run prints them with any overrides applied.
RELEVANT_SETTINGS = {
    "broker.heartbeat.interval.ms": "2000", "broker.session.timeout.ms": "9000",
    "replica.fetch.backoff.ms": "1000", "replica.fetch.wait.max.ms": "500",
    "replica.lag.time.max.ms": "30000", "log.flush.interval.messages": "1",
}
RDKPERF_LINE = re.compile(r"produce delivered=(\d+) failed=(\d+) (\d+) msgs/s ([\d.]+) MB/s")


def parse_args():
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weir", default=DEFAULT_WEIR, help="the weir binary (default: %(default)s)")
    p.add_argument("--records", type=int, default=500_000, help="records per throughput run")
    p.add_argument("--record-size", type=int, default=100, help="bytes per record value")
    p.add_argument("--batch-size", type=int, default=16384,
                   help="weir perf produce batch.size (default: Kafka's, %(default)s)")
    p.add_argument("--linger-ms", type=int, default=5, help="weir perf produce linger.ms")
    p.add_argument("--kills", type=int, default=3, help="leader kills in the failover part")
    p.add_argument("--heartbeat-ms", type=int, default=2000,
                   help="broker.heartbeat.interval.ms (default: weir's and Kafka's)")
    p.add_argument("--session-timeout-ms", type=int, default=9000,
                   help="broker.session.timeout.ms (default: weir's and Kafka's)")
    p.add_argument("--broker-config", action="append", default=[], metavar="KEY=VALUE",
                   help="extra server.properties line for every node (repeatable)")
    p.add_argument("--no-rdkafka", action="store_true", help="skip the rdkperf rows")
    p.add_argument("--no-throughput", action="store_true", help="skip parts 1 and 2")
    p.add_argument("--no-failover", action="store_true", help="skip part 3")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args()
    args.weir = os.path.abspath(args.weir)
    if not os.access(args.weir, os.X_OK):
        p.error(f"{args.weir} is not an executable weir binary")
    return args


def free_ports(count):
    """count distinct TCP ports on 127.0.0.1 that were free a moment ago (all held open
    while choosing, so the kernel cannot hand out one twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def die_with_parent():
    """In a child: SIGKILL it when this script dies, even by SIGKILL (prctl
    PR_SET_PDEATHSIG), so no weir process outlives the benchmark."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def exit_on_sigterm(signum, _frame):
    """SIGTERM unwinds like Ctrl-C, so the finally blocks clean up."""
    raise SystemExit(f"terminated by signal {signum}")


class Node:
    """One `weir server` process (controller or broker) from its own server.properties;
    its data directory and output file outlive restarts."""

    def __init__(self, weir, node_id, role, port, voters, root, settings):
        """Writes the node's server.properties under root; settings: extra lines."""
        self.weir, self.node_id, self.role, self.port = weir, node_id, role, port
        self.data = os.path.join(root, f"n{node_id}")
        self.config = os.path.join(root, f"n{node_id}.properties")
        self.output_path = os.path.join(root, f"n{node_id}.out")
        listener = "CONTROLLER" if role == "controller" else "PLAINTEXT"
        lines = [f"process.roles={role}", f"node.id={node_id}",
                 f"listeners={listener}://127.0.0.1:{port}",
                 "controller.listener.names=CONTROLLER",
                 f"controller.quorum.voters={voters}", f"log.dirs={self.data}",
                 "auto.create.topics.enable=false", *settings]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.process = None
        self._output_start = 0

    def alive(self):
        """Whether the process runs."""
        return self.process is not None and self.process.poll() is None

    def start(self):
        """Starts the process (its own session, so a terminal's Ctrl-C reaches only this
        script, which then stops the nodes in order)."""
        self._output_start = os.path.getsize(self.output_path) \
            if os.path.exists(self.output_path) else 0
        with open(self.output_path, "ab") as out:
            self.process = subprocess.Popen(
                [self.weir, "server", self.config], stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, preexec_fn=die_with_parent, start_new_session=True)

    def output(self, since_start=False):
        """What the process printed (stdout and stderr), all starts or the last one."""
        try:
            with open(self.output_path, "rb") as f:
                if since_start:
                    f.seek(self._output_start)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def wait_ready(self, timeout=START_TIMEOUT_S):
        """Waits for the line the server prints once it serves; raises if the process
        exits first or the line does not come within timeout seconds."""
        pattern = CONTROLLER_READY if self.role == "controller" else BROKER_READY
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pattern.search(self.output(since_start=True)):
                return
            if not self.alive():
                raise RuntimeError(f"node {self.node_id} exited ({self.process.returncode}) "
                                   f"before serving:\n{self.output(True)[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"node {self.node_id} printed no ready line in {timeout:.0f} s:\n"
                           f"{self.output(True)[-2000:]}")

    def kill(self):
        """kill -9; returns once the process is reaped."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout=30.0):
        """SIGTERM and wait; SIGKILL after timeout seconds. Returns a problem or None."""
        if not self.alive():
            return None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return f"node {self.node_id} did not stop within {timeout:.0f} s of SIGTERM"
        if code != 0 or "weir server: stopped cleanly" not in self.output(since_start=True):
            return f"node {self.node_id} stopped uncleanly (exit {code})"
        return None


class Cluster:
    """Three controllers and three brokers in a temporary directory; a context manager
    that stops every process (brokers first) and removes the directory on exit."""

    def __init__(self, weir, settings, keep=False):
        """settings: server.properties lines every node gets."""
        self.weir, self.settings, self.keep = weir, settings, keep
        self.root = tempfile.mkdtemp(prefix="weir-bench-replication-")
        self.controllers, self.brokers, self.bootstrap = [], {}, ""
        self.problems = []

    def _configure(self, attempt):
        """Chooses ports and writes every node's config in a directory of its own."""
        directory = os.path.join(self.root, f"cluster{attempt}")
        os.mkdir(directory)
        ids = CONTROLLER_IDS + BROKER_IDS
        ports = dict(zip(ids, free_ports(len(ids))))
        voters = ",".join(f"{n}@127.0.0.1:{ports[n]}" for n in CONTROLLER_IDS)
        self.controllers = [Node(self.weir, n, "controller", ports[n], voters, directory,
                                 self.settings) for n in CONTROLLER_IDS]
        self.brokers = {n: Node(self.weir, n, "broker", ports[n], voters, directory,
                                self.settings) for n in BROKER_IDS}
        self.bootstrap = ",".join(f"127.0.0.1:{b.port}" for b in self.brokers.values())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def start(self, attempts=3):
        """Starts every node and waits for each one's ready line. A port taken between
        choosing and binding it (another process's connection) means a new cluster on
        new ports, up to `attempts` times."""
        for attempt in range(1, attempts + 1):
            self._configure(attempt)
            nodes = self.controllers + list(self.brokers.values())
            for n in nodes:
                n.start()
            try:
                for n in nodes:
                    n.wait_ready()
                return
            except RuntimeError as error:
                if "address in use" not in str(error) or attempt == attempts:
                    raise
                print(f"a port was taken ({str(error).splitlines()[-1]}); new ports",
                      file=sys.stderr)
                for n in nodes:
                    if n.alive():
                        n.kill()

    def close(self):
        """Stops brokers, then controllers; removes the directory unless kept."""
        for n in list(self.brokers.values()) + self.controllers:
            try:
                problem = n.stop()
            except Exception as error:  # noqa: BLE001 — keep stopping the others
                problem = f"node {n.node_id}: {error}"
            if problem:
                self.problems.append(problem)
                print(f"warning: {problem}; its output ends:\n{n.output(True)[-1500:]}",
                      file=sys.stderr)
        if self.keep:
            print(f"kept {self.root}", file=sys.stderr)
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def tails(self, chars=1500):
        """The end of every node's output, for an error report."""
        nodes = self.controllers + list(self.brokers.values())
        return "\n".join(f"--- node {n.node_id} ({n.role}), output ends:\n"
                         f"{n.output()[-chars:]}" for n in nodes)


def partition_state(admin, topic):
    """(leader, replicas, isr) of the topic's partition 0 as a broker lists it, or None."""
    from confluent_kafka import KafkaException
    try:
        listing = admin.list_topics(topic=topic, timeout=5)
    except KafkaException:
        return None
    t = listing.topics.get(topic)
    if t is None or t.error is not None or 0 not in t.partitions:
        return None
    p = t.partitions[0]
    return p.leader, sorted(p.replicas), sorted(p.isrs)


def wait_for(predicate, timeout, interval=0.1):
    """Polls predicate until it returns something true; that value, or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def wait_for_brokers(admin, count, timeout=START_TIMEOUT_S):
    """Waits until the cluster's metadata lists count brokers (registered, unfenced)."""
    from confluent_kafka import KafkaException

    def listed():
        try:
            return len(admin.list_topics(timeout=5).brokers) == count
        except KafkaException:
            return False

    if not wait_for(listed, timeout, 0.2):
        raise RuntimeError(f"the metadata did not list {count} brokers within {timeout:.0f} s")


def wait_for_full_isr(admin, topic, replicas, timeout=ISR_TIMEOUT_S):
    """Waits until the partition has a leader and all `replicas` replicas in its ISR;
    returns its (leader, replicas, isr)."""
    state = wait_for(lambda: (s := partition_state(admin, topic)) and s[0] >= 0 and
                     len(s[2]) == replicas and s, timeout)
    if state is None:
        raise RuntimeError(f"{topic}: no leader with a full ISR within {timeout:.0f} s "
                           f"(last seen {partition_state(admin, topic)})")
    return state


def create_topic(admin, name, replication, min_isr=None):
    """Creates a one-partition topic through the AdminClient and waits until it is led
    with its whole ISR; returns (leader, replicas, isr)."""
    from confluent_kafka.admin import NewTopic
    config = {"min.insync.replicas": str(min_isr)} if min_isr else {}
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=1, replication_factor=replication, config=config)],
        request_timeout=30, operation_timeout=30)
    futures[name].result(timeout=60)
    return wait_for_full_isr(admin, name, replication)


def warm_up(bootstrap, topic, timeout=60.0):
    """Sends single acks=all records to a new topic until three in a row are acknowledged
    within 100 ms each, so a run does not time the followers' start on the partition (a
    follower whose first fetch failed waits replica.fetch.backoff.ms). Returns the
    seconds until the first acknowledgement."""
    import confluent_kafka
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                         "linger.ms": 0, "log_level": 2})
    started = time.monotonic()
    first = None
    quick = 0
    while quick < 3:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{topic}: acks=all produce still not quick after {timeout} s")
        outcome = []
        sent = time.monotonic()
        producer.produce(topic, value=b"warm-up", partition=0,
                         on_delivery=lambda err, msg: outcome.append(err))
        producer.flush(timeout)
        if outcome and outcome[0] is None:
            now = time.monotonic()
            first = first if first is not None else now - started
            quick = quick + 1 if now - sent < 0.1 else 0
        else:
            quick = 0
            time.sleep(0.1)
    return first


def topic_config(admin, name, key):
    """A topic's effective config value as DescribeConfigs answers, or '?'."""
    from confluent_kafka.admin import ConfigResource
    resource = ConfigResource("topic", name)
    try:
        return admin.describe_configs([resource])[resource].result(timeout=15)[key].value
    except Exception:  # noqa: BLE001 — informational only
        return "?"


def run_logged(args, prefix, timeout):
    """Runs a client, echoing its output lines with a prefix; returns (exit code, lines).
    The child is killed if this script is interrupted."""
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, preexec_fn=die_with_parent, text=True)
    lines = []
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        for line in process.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            if not line.startswith("{"):
                print(f"    {prefix}| {line}", flush=True)
        return process.wait(), lines
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()


def weir_perf_produce(weir, bootstrap, topic, args, throughput):
    """One `weir perf produce` run (acks=all, idempotent); its JSON summary as a dict,
    with an "error" entry (its last words) when it failed."""
    command = [weir, "perf", "produce", "--bootstrap-server", bootstrap, "--topic", topic,
               "--num-records", str(args.records), "--record-size", str(args.record_size),
               "--throughput", str(throughput), "--json", "--producer-props", "acks=all",
               f"linger.ms={args.linger_ms}", f"batch.size={args.batch_size}"]
    code, lines = run_logged(command, f"weir {topic}", timeout=1800)
    summary = next((json.loads(line) for line in lines if line.startswith("{")), None)
    if code != 0 or summary is None:
        said = [line for line in lines if line.startswith("weir perf produce:")] or lines[-1:]
        summary = dict(summary or {}, error=f"exit {code}: " + " ".join(said)[:300])
        print(f"    weir {topic}| FAILED: {summary['error']}", flush=True)
    return summary


def build_rdkperf(directory):
    """Compiles rdkperf.c into directory; its path, or None (with the reason printed)."""
    if not os.path.exists(RDKPERF_SOURCE) or shutil.which("cc") is None:
        print(f"rdkperf rows skipped: no {RDKPERF_SOURCE} or no cc")
        return None
    binary = os.path.join(directory, "rdkperf")
    r = subprocess.run(["cc", "-O2", "-o", binary, RDKPERF_SOURCE, "-lrdkafka"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"rdkperf rows skipped: it does not build (librdkafka-dev?):\n{r.stderr[-500:]}")
        return None
    return binary


def rdkperf_produce(binary, bootstrap, topic, args):
    """One rdkperf produce run with acks=all (not idempotent; linger.ms=5, 1 MB
    batches); {'records_per_sec', 'mb_per_sec', ...}, or {'error': ...}."""
    command = [binary, "produce", bootstrap, topic, str(args.records), str(args.record_size),
               "all"]
    code, lines = run_logged(command, f"rdkperf {topic}", timeout=1800)
    match = next((m for line in lines if (m := RDKPERF_LINE.search(line))), None)
    if code != 0 or match is None:
        error = f"exit {code}: " + " ".join(lines[-3:])[:300]
        print(f"    rdkperf {topic}| FAILED: {error}", flush=True)
        return {"error": error}
    return {"records": int(match.group(1)), "failed": int(match.group(2)),
            "records_per_sec": float(match.group(3)), "mb_per_sec": float(match.group(4))}


def prepare_topic(cluster, admin, name, replication, warmups):
    """Creates a one-partition topic (RF=3 gets min.insync.replicas=2), warms it up and
    records the warm-up's first acknowledgement in warmups; a line describing it."""
    leader, _, isr = create_topic(admin, name, replication,
                                  min_isr=2 if replication == 3 else None)
    warmups[name] = round(warm_up(cluster.bootstrap, name), 3)
    return (f"{name}: leader {leader}, ISR {isr}, min.insync.replicas="
            f"{topic_config(admin, name, 'min.insync.replicas')}, first acks=all "
            f"acknowledgement {warmups[name]:.3f} s after its creation")


def measure_throughput(cluster, admin, args):
    """Parts 1 and 2: peak acks=all throughput to RF=1 and RF=3 topics per client, then
    weir perf produce at half of each peak for latency. Returns the results dict."""
    results = {"weir": {}, "rdkperf": None, "half_load": {}, "warmup_s": {}}
    for rf in (1, 3):
        topic = f"peak-rf{rf}"
        about = prepare_topic(cluster, admin, topic, rf, results["warmup_s"])
        print(f"\n[peak] weir perf produce acks=all -> {about}", flush=True)
        results["weir"][f"rf{rf}"] = weir_perf_produce(args.weir, cluster.bootstrap, topic,
                                                       args, -1)
    rdkperf = None if args.no_rdkafka else build_rdkperf(cluster.root)
    if rdkperf:
        results["rdkperf"] = {}
        for rf in (1, 3):
            topic = f"rdk-rf{rf}"
            about = prepare_topic(cluster, admin, topic, rf, results["warmup_s"])
            print(f"\n[peak] rdkperf produce acks=all -> {about}", flush=True)
            results["rdkperf"][f"rf{rf}"] = rdkperf_produce(rdkperf, cluster.bootstrap, topic,
                                                            args)
    for rf in (1, 3):
        topic = f"half-rf{rf}"
        peak = results["weir"][f"rf{rf}"]
        if "error" in peak:
            results["half_load"][f"rf{rf}"] = {"error": "no peak to halve"}
            continue
        target = max(1, int(peak["records_per_sec"] / 2))
        about = prepare_topic(cluster, admin, topic, rf, results["warmup_s"])
        print(f"\n[half load] weir perf produce acks=all --throughput {target} -> {about}",
              flush=True)
        summary = weir_perf_produce(args.weir, cluster.bootstrap, topic, args, target)
        summary["target_records_per_sec"] = target
        if summary.get("records_per_sec", 0) < 0.9 * target:
            # The latency of an overloaded run is queueing, not service time.
            summary["warning"] = "target rate not reached: the machine was busier than " \
                                 "during the peak run"
        results["half_load"][f"rf{rf}"] = summary
    results["ratios"] = {
        client: round(by_rf["rf3"]["records_per_sec"] / by_rf["rf1"]["records_per_sec"], 3)
        for client, by_rf in (("weir", results["weir"]), ("rdkperf", results["rdkperf"]))
        if by_rf and not any("error" in r for r in by_rf.values())}
    return results


class FailoverProbe:
    """A confluent-kafka producer (acks=all, idempotent, linger.ms=0) in its own thread
    sending one small record every PROBE_INTERVAL_S; each delivery report is kept with
    the monotonic time of its produce() call and of the report."""

    def __init__(self, bootstrap, topic):
        """Builds the producer; start() starts sending."""
        import confluent_kafka
        self.topic = topic
        self.producer = confluent_kafka.Producer({
            "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
            "linger.ms": 0, "message.timeout.ms": 300000})
        self.lock = threading.Lock()
        self.successes = []  # (sent, delivered, offset), in report order
        self.failures = []  # (sent, delivered, error text)
        self.sent = 0
        self.full = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="failover-probe", daemon=True)

    def start(self):
        """Starts the sending thread."""
        self._thread.start()

    def stop(self, timeout=60.0):
        """Stops sending and waits for outstanding reports (at most timeout seconds)."""
        self._stop.set()
        self._thread.join()
        self.producer.flush(timeout)

    def _report(self, sent, err, msg):
        """Delivery report callback (runs in the probe thread, inside poll())."""
        now = time.monotonic()
        with self.lock:
            if err is None:
                self.successes.append((sent, now, msg.offset()))
            else:
                self.failures.append((sent, now, str(err)))

    def _run(self):
        """The sending loop: produce when due, poll (serving reports) until the next."""
        due = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= due:
                sent = now
                try:
                    self.producer.produce(
                        self.topic, value=b"x" * 16, partition=0,
                        on_delivery=lambda err, msg, sent=sent: self._report(sent, err, msg))
                    with self.lock:
                        self.sent += 1
                except BufferError:
                    with self.lock:
                        self.full += 1
                due = max(due + PROBE_INTERVAL_S, now)
            self.producer.poll(max(0.0, due - time.monotonic()))

    def success_count(self):
        """How many delivery reports of success so far."""
        with self.lock:
            return len(self.successes)

    def first_success_sent_after(self, instant, start_index):
        """The first success report (from start_index on) for a record produced at or
        after instant: (sent, delivered, offset), or None."""
        with self.lock:
            for sent, delivered, offset in self.successes[start_index:]:
                if sent >= instant:
                    return sent, delivered, offset
        return None

    def failures_since(self, instant):
        """Delivery failures reported at or after instant."""
        with self.lock:
            return [f for f in self.failures if f[1] >= instant]


def leader_watermark_known(broker, timeout):
    """Seconds until the broker, as the partition's new leader, answers ListOffsets for
    the latest offset of the failover topic, or None. A new leader answers
    OFFSET_NOT_AVAILABLE until its high watermark reaches the start of its leader epoch,
    which takes a follower's fetch from it: from then on it can acknowledge acks=all."""
    import confluent_kafka
    consumer = confluent_kafka.Consumer({"bootstrap.servers": f"127.0.0.1:{broker.port}",
                                         "group.id": "bench-watermarks", "log_level": 2})
    partition = confluent_kafka.TopicPartition(FAILOVER_TOPIC, 0)

    def answered():
        try:
            return consumer.get_watermark_offsets(partition, timeout=1, cached=False)
        except confluent_kafka.KafkaException:
            return None

    try:
        return wait_for(answered, timeout, 0.01)
    finally:
        consumer.close()


def one_failover(cluster, admin, probe, number):
    """Kills the failover partition's leader with SIGKILL and measures; restarts it and
    waits until it is back in the ISR. Returns the figures of this kill (seconds from the
    kill): `metadata_s` the metadata names another leader, `watermark_s` that leader
    answers ListOffsets (its high watermark is past its epoch's start), `first_produce_s`
    the first delivery report of success for a record produced after the kill."""
    leader = wait_for_full_isr(admin, FAILOVER_TOPIC, 3)[0]
    victim = cluster.brokers[leader]
    before = probe.success_count()
    if not wait_for(lambda: probe.success_count() > before, 10, 0.01):
        raise RuntimeError("the probe producer gets no acknowledgements before the kill")
    index = probe.success_count()
    killed_at = time.monotonic()
    victim.kill()
    reaped_ms = 1000 * (time.monotonic() - killed_at)
    # Each step is timestamped when seen; the probe timestamps its own reports.
    moved = wait_for(lambda: (s := partition_state(admin, FAILOVER_TOPIC)) and
                     s[0] >= 0 and s[0] != leader and s, 120, 0.02)
    metadata_s = time.monotonic() - killed_at if moved else None
    watermark_s = None
    if moved and leader_watermark_known(cluster.brokers[moved[0]], 120):
        watermark_s = time.monotonic() - killed_at
    first = wait_for(lambda: probe.first_success_sent_after(killed_at, index), 300, 0.005)
    if first is None:
        raise RuntimeError(f"kill {number}: no record produced after the kill was "
                           f"acknowledged within 300 s (metadata: {moved})")
    produce_s = first[1] - killed_at
    failures = probe.failures_since(killed_at)
    new_leader = moved[0] if moved else None
    print(f"  kill {number}: leader {leader} killed (reaped after {reaped_ms:.1f} ms); "
          f"metadata names leader {new_leader} (ISR {moved[2] if moved else '?'}) after "
          f"{fmt(metadata_s, '.3f')} s; it answers ListOffsets after {fmt(watermark_s, '.3f')}"
          f" s; first record produced after the kill acknowledged after {produce_s:.3f} s "
          f"(offset {first[2]}, sent {first[0] - killed_at:+.3f} s); {len(failures)} delivery "
          f"failures{': ' + failures[0][2] if failures else ''}", flush=True)
    time.sleep(1)
    restarted_at = time.monotonic()
    victim.start()
    victim.wait_ready()
    wait_for_full_isr(admin, FAILOVER_TOPIC, 3)
    rejoin_s = time.monotonic() - restarted_at
    print(f"  kill {number}: broker {leader} restarted, back in the ISR after {rejoin_s:.2f} s",
          flush=True)
    return {"killed": leader, "new_leader": new_leader,
            "metadata_s": None if metadata_s is None else round(metadata_s, 3),
            "watermark_s": None if watermark_s is None else round(watermark_s, 3),
            "first_produce_s": round(produce_s, 3), "delivery_failures": len(failures),
            "first_failure": failures[0][2] if failures else None,
            "rejoin_isr_s": round(rejoin_s, 2)}


def measure_failover(cluster, admin, args):
    """Part 3: args.kills leader kills under the probe producer; the figures of each."""
    about = prepare_topic(cluster, admin, FAILOVER_TOPIC, 3, {})
    print(f"\n[failover] {about}; the probe sends a record every "
          f"{1000 * PROBE_INTERVAL_S:.0f} ms (acks=all, idempotent)", flush=True)
    probe = FailoverProbe(cluster.bootstrap, FAILOVER_TOPIC)
    probe.start()
    kills = []
    try:
        time.sleep(2)
        for number in range(1, args.kills + 1):
            kills.append(one_failover(cluster, admin, probe, number))
            time.sleep(2)
    finally:
        probe.stop()
    with probe.lock:
        totals = {"sent": probe.sent, "acknowledged": len(probe.successes),
                  "failed": len(probe.failures), "queue_full": probe.full}
    print(f"  probe totals: {totals}", flush=True)
    result = {"kills": kills, "probe": totals}
    for step in ("metadata_s", "watermark_s", "first_produce_s"):
        result[f"median_{step}"] = median_or_none([k[step] for k in kills])
    return result


def median_or_none(values):
    """The median of the values that are not None (to the millisecond), or None."""
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def fmt(value, spec):
    """A number formatted, or '-' right-aligned to the spec's width for None."""
    if value is not None:
        return format(value, spec)
    width = re.match(r"[<>^]?(\d*)", spec).group(1)
    return format("-", f">{width}")


def print_report(args, in_effect, throughput, failover):
    """The human-readable table of every figure."""
    print(f"\n=== weir replication on loopback: {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f} now ===")
    print("cluster: 3 controllers + 3 brokers; "
          + ", ".join(f"{k}={v}" for k, v in in_effect.items()))
    if throughput:
        print(f"\nthroughput, acks=all, 1 partition, {args.records} records of "
              f"{args.record_size} bytes")
        print(f"| {'client':36} | {'RF':>2} | {'records/s':>10} | {'MB/s':>6} | "
              f"{'p50 ms':>8} | {'p99 ms':>8} |")
        print(f"|{'-' * 38}|{'-' * 4}|{'-' * 12}|{'-' * 8}|{'-' * 10}|{'-' * 10}|")
        rows = [(f"weir perf (batch {args.batch_size}) peak", throughput["weir"])]
        if throughput["rdkperf"]:
            rows.append(("rdkperf (1 MB batches) peak", throughput["rdkperf"]))
        rows.append(("weir perf at half peak", throughput["half_load"]))
        for label, by_rf in rows:
            for rf in (1, 3):
                r = by_rf[f"rf{rf}"]
                target = r.get("target_records_per_sec")
                name = f"{label} ({target}/s)" if target else label
                print(f"| {name:36} | {rf:>2} | {fmt(r.get('records_per_sec'), '10.0f')} | "
                      f"{fmt(r.get('mb_per_sec'), '6.1f')} | {fmt(r.get('p50_ms'), '8.2f')} | "
                      f"{fmt(r.get('p99_ms'), '8.2f')} |"
                      + (f" FAILED: {r['error']}" if "error" in r else "")
                      + (f" WARNING: {r['warning']}" if "warning" in r else ""))
        for name, ratio in throughput["ratios"].items():
            print(f"RF3/RF1 throughput, {name}: {ratio:.3f}")
        print("first acks=all acknowledgement after a topic's creation (warm-up, untimed): "
              + ", ".join(f"{t} {v:.3f} s" for t, v in throughput["warmup_s"].items()))
    if failover:
        print(f"\nfailover: kill -9 of the leader -> first acknowledged record produced after "
              f"the kill (acks=all, idempotent, a record every {1000 * PROBE_INTERVAL_S:.0f} ms)")
        print(f"| kill | {'leader':>6} | {'new':>4} | {'metadata s':>10} | {'watermark s':>11} "
              f"| {'produce s':>9} | {'failures':>8} | {'rejoin ISR s':>12} |")
        print("|------|--------|------|------------|-------------|-----------|----------|"
              "--------------|")
        for i, k in enumerate(failover["kills"], 1):
            print(f"| {i:>4} | {k['killed']:>6} | {fmt(k['new_leader'], '>4')} | "
                  f"{fmt(k['metadata_s'], '10.3f')} | {fmt(k['watermark_s'], '11.3f')} | "
                  f"{k['first_produce_s']:9.3f} | "
                  f"{k['delivery_failures']:>8} | {k['rejoin_isr_s']:12.2f} |")
        print(f"median: metadata {fmt(failover['median_metadata_s'], '.3f')} s, watermark "
              f"{fmt(failover['median_watermark_s'], '.3f')} s, first produce "
              f"{fmt(failover['median_first_produce_s'], '.3f')} s")


def main():
    """Runs the parts asked for and prints the table and the JSON line."""
    args = parse_args()
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    import confluent_kafka.admin as admin_module
    settings = [f"broker.heartbeat.interval.ms={args.heartbeat_ms}",
                f"broker.session.timeout.ms={args.session_timeout_ms}", *args.broker_config]
    in_effect = dict(RELEVANT_SETTINGS)
    in_effect.update(line.split("=", 1) for line in settings)
    print("settings in effect: " + ", ".join(f"{k}={v}" for k, v in in_effect.items()),
          flush=True)
    load_before = os.getloadavg()[0]
    throughput = failover = None
    with Cluster(args.weir, settings, keep=args.keep) as cluster:
        try:
            cluster.start()
            print(f"cluster in {cluster.root}: controllers "
                  f"{[c.port for c in cluster.controllers]}, brokers {cluster.bootstrap}",
                  flush=True)
            # log_level 2: not its reconnect errors while a broker is down.
            admin = admin_module.AdminClient({"bootstrap.servers": cluster.bootstrap,
                                              "log_level": 2})
            wait_for_brokers(admin, len(BROKER_IDS))
            if not args.no_throughput:
                throughput = measure_throughput(cluster, admin, args)
            if not args.no_failover:
                failover = measure_failover(cluster, admin, args)
        except Exception:
            print(cluster.tails(), file=sys.stderr)
            raise
    print_report(args, in_effect, throughput, failover)
    summary = {"bench": "replication", "cores": os.cpu_count(),
               "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
               "records": args.records, "record_size": args.record_size,
               "batch_size": args.batch_size, "linger_ms": args.linger_ms,
               "settings": in_effect, "throughput": throughput, "failover": failover,
               "shutdown_problems": cluster.problems}
    print(json.dumps(summary, separators=(",", ":")))
    return 1 if cluster.problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
