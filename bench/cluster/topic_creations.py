"""Topic creations per second through a real KRaft cluster: three controller processes
and one broker (`weir server`, loopback, fsync on), driven by confluent-kafka's
AdminClient. Each creation goes client -> broker -> active controller -> metadata log
(committed on a majority, fsynced) -> answer. Two shapes:
  - one topic per CreateTopics request, one request at a time (latency-bound);
  - 100 topics per request (the controller writes them as one batch).

  /usr/bin/python3 bench/cluster/topic_creations.py build/src/cli/weir [topics]
"""

import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "integration"))
from cluster_test import Node, metadata, wait_until  # noqa: E402
from quorum_test import free_port, wait_for_leader  # noqa: E402
import harness  # noqa: E402


def create(admin_module, admin, names, partitions=1):
    futures = admin.create_topics(
        [admin_module.NewTopic(n, num_partitions=partitions, replication_factor=1)
         for n in names], request_timeout=60, operation_timeout=60)
    for name, future in futures.items():
        future.result(timeout=120)


def main():
    weir = os.path.abspath(sys.argv[1])
    topics = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    kcat_path = harness.require_program("kcat")
    harness.require_module("confluent_kafka")
    import confluent_kafka.admin as admin_module
    with tempfile.TemporaryDirectory(prefix="weir-bench-cluster-") as root:
        ports = {n: free_port() for n in (1, 2, 3, 4)}
        voters = ",".join(f"{n}@127.0.0.1:{ports[n]}" for n in (1, 2, 3))
        controllers = [Node(weir, n, "controller", ports[n], voters, root) for n in (1, 2, 3)]
        broker = Node(weir, 4, "broker", ports[4], voters, root)
        nodes = controllers + [broker]
        try:
            for n in nodes:
                n.start()
            leader, _ = wait_for_leader(controllers)
            assert leader is not None, "no controller leader"

            def broker_listed():
                listing = metadata(kcat_path, broker)
                return listing if listing and listing["brokers"] else None

            assert wait_until(broker_listed, 30), "the broker never registered"
            admin = admin_module.AdminClient({"bootstrap.servers": f"127.0.0.1:{broker.port}"})
            single = max(topics // 5, 20)
            started = time.time()
            for i in range(single):
                create(admin_module, admin, [f"single-{i}"])
            elapsed = time.time() - started
            print(f"one topic per request:     {single} topics in {elapsed:.2f} s = "
                  f"{single / elapsed:.0f} topics/s ({1000 * elapsed / single:.1f} ms each)")
            started = time.time()
            for start in range(0, topics, 100):
                create(admin_module, admin, [f"batch-{i}" for i in range(start, start + 100)])
            elapsed = time.time() - started
            print(f"100 topics per request:    {topics} topics in {elapsed:.2f} s = "
                  f"{topics / elapsed:.0f} topics/s")
            del admin
        finally:
            for n in nodes:
                if n.process is not None and n.process.poll() is None:
                    n.signal(signal.SIGTERM)


if __name__ == "__main__":
    main()
