#!/usr/bin/python3
"""Runs idempotent_1m (librdkafka, enable.idempotence=true, 1,000,000 records) against a
real weir server and passes its verdict through; skipped when meson found no librdkafka.

usage: idempotent_test.py path/to/weir path/to/idempotent_1m [COUNT]
"""

import subprocess
import sys

import harness

TOPIC = "idempotent-1m"


def main():
    weir = harness.weir_binary()
    if len(sys.argv) < 3 or not sys.argv[2]:
        harness.skip("idempotent_1m was not built (no librdkafka)")
    program = sys.argv[2]
    count = sys.argv[3] if len(sys.argv) > 3 else "1000000"
    with harness.WeirServer(weir) as server:
        server.create_topic(TOPIC, partitions=1)
        r = subprocess.run([program, server.bootstrap, TOPIC, count], timeout=600)
        server.stop()
    sys.exit(r.returncode)


if __name__ == "__main__":
    main()
