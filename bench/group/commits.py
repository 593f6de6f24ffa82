"""The group coordinator on one real `weir server` process (loopback, fsync on as
shipped): offset commits per second, and memory per group and per committed offset.

Commits: C connections, each keeping W OffsetCommit v7 requests in flight (pipelined,
pre-encoded: the client costs little; a broker handles one request of a connection at a
time, as Kafka does, so concurrency — and with it the batching of group commit — comes
from connections), each request committing P partitions of one
simple group (generation -1, no members: as `commitSync` of an assign()ed consumer, and
as the admin's offset resets). Every commit is answered only once `__consumer_offsets`
holds it durably, so this is the coordinator's append path with group commit. Reported:
requests/s and offsets/s, with the server's CPU seconds per 100,000 offsets.

Memory: the server's resident set (VmRSS) before and after committing to G groups with
1 offset each, and again after 9 more offsets in each (the same groups): per group
(with its first offset) and per further committed offset.

  /usr/bin/python3 bench/group/commits.py build/src/cli/weir [seconds] [groups]
"""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "integration"))
import harness  # noqa: E402
import wire  # noqa: E402

API_OFFSET_COMMIT, API_FIND_COORDINATOR = 8, 10
TOPIC, PARTITIONS = "work", 10


def commit_body(group, offsets):
    """OffsetCommit v7 of a simple group: partitions of TOPIC -> offset."""
    partitions = [wire.i32(p) + wire.i64(o) + wire.i32(-1) + wire.string(None)
                  for p, o in offsets]
    return (wire.string(group) + wire.i32(-1) + wire.string("") + wire.string(None)
            + wire.array([wire.string(TOPIC) + wire.array(partitions)]))


def errors_of(body):
    r = wire.Reader(body)
    r.i32()
    topics = r.array(lambda t: (t.string(), t.array(lambda p: (p.i32(), p.i16()))))
    return [e for _, parts in topics for _, e in parts if e != 0]


class Pipe:
    """One connection with requests in flight; answers are read in order."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.correlation = 0
        self.buffer = b""

    def send(self, body):
        self.correlation += 1
        self.sock.sendall(wire.frame(API_OFFSET_COMMIT, 7, self.correlation, body))

    def receive(self):
        while True:
            if len(self.buffer) >= 4:
                (size,) = struct.unpack(">i", self.buffer[:4])
                if len(self.buffer) >= 4 + size:
                    frame, self.buffer = self.buffer[4:4 + size], self.buffer[4 + size:]
                    return frame[4:]  # past the correlation id
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed by the server")
            self.buffer += chunk


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_coordinator(port, group):
    conn = wire.Connection(port)
    try:
        for _ in range(300):
            data = conn.request(API_FIND_COORDINATOR, 1, wire.string(group) + wire.i8(0))
            if struct.unpack(">h", data[4:6])[0] == 0:
                errors = errors_of(conn.request(API_OFFSET_COMMIT, 7, commit_body(group, [(0, 0)])))
                if not errors:
                    return
            time.sleep(0.1)
    finally:
        conn.close()
    raise RuntimeError("no coordinator")


def throughput(port, seconds, connections, in_flight, per_request):
    pipes = [Pipe(port) for _ in range(connections)]
    bodies = [[commit_body(f"bench-{c}-{k}", [(p, 1000 + k) for p in range(per_request)])
               for k in range(in_flight)] for c in range(connections)]
    for c, pipe in enumerate(pipes):
        for body in bodies[c]:
            pipe.send(body)
    answered, failed = 0, 0
    deadline = time.monotonic() + seconds
    start = time.monotonic()
    k = 0
    while time.monotonic() < deadline:
        for c, pipe in enumerate(pipes):
            errors = errors_of(pipe.receive())
            failed += 1 if errors else 0
            answered += 1
            pipe.send(bodies[c][k % in_flight])
        k += 1
    elapsed = time.monotonic() - start
    for pipe in pipes:
        for _ in range(in_flight):
            pipe.receive()
        pipe.sock.close()
    return answered / elapsed, failed


def main():
    weir = harness.weir_binary()
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    groups = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
    with harness.WeirServer(weir) as server:
        server.create_topic(TOPIC, partitions=PARTITIONS)
        pid = server.proc.pid
        wait_coordinator(server.port, "warm-up")
        print(f"offset commits on one coordinator (weir pid {pid}), {seconds:.0f} s each:")
        print(f"{'conns':>6} {'in flight':>9} {'offsets/req':>11} {'req/s':>9} {'offsets/s':>10}"
              f" {'cpu s/100k offsets':>18} {'failed':>6}")
        for connections, in_flight, per_request in ((1, 1, 1), (8, 2, 1), (32, 2, 1), (128, 2, 1),
                                                   (32, 2, 10)):
            cpu0 = cpu_seconds(pid)
            rate, failed = throughput(server.port, seconds, connections, in_flight, per_request)
            cpu = cpu_seconds(pid) - cpu0
            offsets = rate * per_request
            print(f"{connections:>6} {in_flight:>9} {per_request:>11} {rate:>9.0f} {offsets:>10.0f}"
                  f" {cpu / (offsets * seconds) * 1e5:>18.2f} {failed:>6}")

        conn = wire.Connection(server.port)
        before = rss_bytes(pid)

        def commit_all(first_partition, count):
            batch = 64
            names = [f"mem-{g}" for g in range(groups)]
            for i in range(0, groups, batch):
                for name in names[i:i + batch]:
                    conn.correlation += 1
                    conn.send_raw(wire.frame(API_OFFSET_COMMIT, 7, conn.correlation, commit_body(
                        name, [(p, 7) for p in range(first_partition, first_partition + count)])))
                for _ in names[i:i + batch]:
                    _, body = conn.recv_response()
                    assert not errors_of(body), "commit refused"

        commit_all(0, 1)
        one = rss_bytes(pid)
        commit_all(1, PARTITIONS - 1)
        ten = rss_bytes(pid)
        conn.close()
        per_offset = (ten - one) / (groups * (PARTITIONS - 1))
        per_group = (one - before) / groups - per_offset
        print(f"memory: {groups} groups with 1 offset: +{(one - before) / 2**20:.1f} MiB; "
              f"with {PARTITIONS}: +{(ten - before) / 2**20:.1f} MiB "
              f"-> {per_group:.0f} B per group, {per_offset:.0f} B per further offset")


if __name__ == "__main__":
    main()
