"""A three-controller KRaft quorum of real `weir server` processes on loopback, each
started from its own server.properties (process.roles=controller,
controller.quorum.voters=1@...,2@...,3@...). Kafka's DescribeQuorum (api 55), sent over
a raw socket, says who leads. Checks: one leader is elected and every voter follows it;
kill -9 of the leader elects another in a higher epoch; the killed voter restarts and
catches up; a leader stopped with SIGTERM resigns (EndQuorumEpoch) and a successor
takes over at once; every process stops cleanly.
"""

import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checks, _die_with_parent, weir_binary  # noqa: E402
import wire  # noqa: E402

API_DESCRIBE_QUORUM = 55


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compact_string(s):
    data = s.encode()
    return wire.uvarint(len(data) + 1) + data


def describe_quorum(port, timeout=2.0):
    """(leader id, epoch, high watermark, {voter: log end offset}) as node `port` answers
    DescribeQuorum v0, or None when it is not the leader or cannot be reached."""
    try:
        conn = wire.Connection(port, timeout=timeout)
    except OSError:
        return None
    try:
        partition = wire.i32(0) + wire.uvarint(0)
        topic = compact_string("__cluster_metadata") + wire.uvarint(2) + partition + wire.uvarint(0)
        body = wire.uvarint(2) + topic + wire.uvarint(0)
        conn.correlation += 1
        conn.send_raw(wire.frame(API_DESCRIBE_QUORUM, 0, conn.correlation, body, header_version=2))
        _, data = conn.recv_response(header_version=1)
    except OSError:
        return None
    finally:
        conn.close()
    r = wire.Reader(data)
    if r.i16() != 0:
        return None
    assert wire_uvarint(r) == 2, "one topic"
    name_length = wire_uvarint(r) - 1
    r.take(name_length)
    assert wire_uvarint(r) == 2, "one partition"
    r.i32()
    error = r.i16()
    leader, epoch, high_watermark = r.i32(), r.i32(), r.i64()
    voters = {}
    for _ in range(wire_uvarint(r) - 1):
        replica, end = r.i32(), r.i64()
        wire_uvarint(r)
        voters[replica] = end
    if error != 0:
        return None
    return leader, epoch, high_watermark, voters


def wire_uvarint(reader):
    value, shift = 0, 0
    while True:
        (byte,) = reader.take(1)
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
        shift += 7


class Controller:
    def __init__(self, weir, node, ports, root):
        self.weir, self.node, self.port = weir, node, ports[node]
        self.data = os.path.join(root, f"c{node}")
        self.config = os.path.join(root, f"c{node}.properties")
        voters = ",".join(f"{n}@127.0.0.1:{p}" for n, p in sorted(ports.items()))
        with open(self.config, "w") as f:
            f.write(f"process.roles=controller\nnode.id={node}\n"
                    f"listeners=CONTROLLER://127.0.0.1:{self.port}\n"
                    f"controller.listener.names=CONTROLLER\n"
                    f"controller.quorum.voters={voters}\nlog.dirs={self.data}\n")
        self.process = None

    def start(self):
        self.log = open(self.data + ".out", "ab")
        self.process = subprocess.Popen([self.weir, "server", self.config], stdout=self.log,
                                        stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)

    def signal(self, sig):
        self.process.send_signal(sig)
        code = self.process.wait(timeout=30)
        self.log.close()
        return code

    def output(self):
        with open(self.data + ".out", "rb") as f:
            return f.read().decode(errors="replace")


def wait_for_leader(controllers, checks_not=None, timeout=20.0, newer_than=0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for c in controllers:
            if c.process is None or c.process.poll() is not None:
                continue
            answer = describe_quorum(c.port)
            if answer and answer[0] == c.node and answer[1] > newer_than:
                return c, answer
        time.sleep(0.1)
    return None, None


def main():
    weir = weir_binary()
    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="weir-quorum-") as root:
        ports = {n: free_port() for n in (1, 2, 3)}
        controllers = [Controller(weir, n, ports, root) for n in (1, 2, 3)]
        try:
            for c in controllers:
                c.start()
            leader, answer = wait_for_leader(controllers)
            if not checks.check(leader is not None, "a leader is elected among 3 controllers"):
                checks.finish()
            epoch = answer[1]
            checks.equal(sorted(answer[3]), [1, 2, 3], "DescribeQuorum lists the 3 voters")
            # Everyone catches up to the leader's LeaderChange entry.
            deadline = time.time() + 10
            while time.time() < deadline and len(set(describe_quorum(leader.port)[3].values())) > 1:
                time.sleep(0.1)
            ends = describe_quorum(leader.port)[3]
            checks.check(len(set(ends.values())) == 1 and min(ends.values()) > 0,
                         f"every voter holds the leader's log (log end offsets {ends})")

            # kill -9 the leader: another voter leads a higher epoch.
            started = time.time()
            leader.signal(signal.SIGKILL)
            survivors = [c for c in controllers if c is not leader]
            second, answer2 = wait_for_leader(survivors, newer_than=epoch)
            if checks.check(second is not None, "kill -9 of the leader elects a new one"):
                checks.check(answer2[1] > epoch, f"in a higher epoch ({epoch} -> {answer2[1]})")
                print(f"     new leader {second.node} after {time.time() - started:.2f} s", flush=True)
                # The killed voter restarts and follows again.
                leader.start()
                deadline = time.time() + 15
                caught_up = False
                while time.time() < deadline and not caught_up:
                    now = describe_quorum(second.port)
                    caught_up = bool(now) and len(set(now[3].values())) == 1
                    time.sleep(0.1)
                checks.check(caught_up, "the killed controller restarts and catches up")

                # SIGTERM the leader: it resigns and a successor takes over at once.
                epoch2 = describe_quorum(second.port)[1]
                started = time.time()
                code = second.signal(signal.SIGTERM)
                checks.equal(code, 0, "a stopped leader exits 0")
                checks.check("stopped cleanly" in second.output(), "and says it stopped cleanly")
                others = [c for c in controllers if c is not second]
                third, answer3 = wait_for_leader(others, newer_than=epoch2, timeout=10)
                checks.check(third is not None, "a successor leads after a graceful resignation")
                if third:
                    print(f"     successor {third.node} after {time.time() - started:.2f} s", flush=True)
        finally:
            for c in controllers:
                if c.process is not None and c.process.poll() is None:
                    c.signal(signal.SIGTERM)
        for c in controllers:
            checks.check("stopped cleanly" in c.output() or c.process.returncode == -signal.SIGKILL,
                         f"controller {c.node} stopped cleanly")
    checks.finish()


if __name__ == "__main__":
    main()
