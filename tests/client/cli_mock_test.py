#!/usr/bin/env python3
"""The weir CLI against librdkafka's in-memory mock cluster (a Kafka-protocol server
that is not weir): produce keyed lines, read every partition back, check each record
came back once with its key, and that one key always lands in one partition.

Usage: cli_mock_test.py WEIR MOCKHOST_C. Exits 77 (skip) without a C compiler or
librdkafka's headers."""
import os
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


def main():
    weir, source = sys.argv[1], sys.argv[2]
    compiler = shutil.which("cc")
    if not compiler or not os.path.exists(source):
        print("skip: no cc or no mockhost.c")
        return SKIP
    with tempfile.TemporaryDirectory() as temp:
        mockhost = os.path.join(temp, "mockhost")
        built = subprocess.run([compiler, "-O1", "-o", mockhost, source, "-lrdkafka",
                                "-lpthread"], capture_output=True, text=True)
        if built.returncode != 0:
            print("skip: cannot build mockhost:", built.stderr[-500:])
            return SKIP
        mock = subprocess.Popen([mockhost, "1", "60", "t", "3", "perf", "1"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            bootstrap = mock.stdout.readline().strip()
            assert bootstrap, "mockhost printed no bootstrap address"
            return run_checks(weir, bootstrap)
        finally:
            mock.terminate()
            mock.wait(timeout=10)


def weir_run(weir, *args, stdin=None, timeout=60):
    result = subprocess.run([weir, *args], input=stdin, capture_output=True, text=True,
                            timeout=timeout)
    return result


def run_checks(weir, bootstrap):
    listed = weir_run(weir, "topic", "list", "--bootstrap-server", bootstrap)
    assert listed.returncode == 0, listed.stderr
    assert "t" in listed.stdout.split(), listed.stdout

    lines = [f"key{i % 17}:value{i}" for i in range(2000)]
    produced = weir_run(weir, "produce", "--topic", "t", "--bootstrap-server", bootstrap,
                        "--property", "parse.key=true", "--property", "key.separator=:",
                        "--compression", "gzip", stdin="\n".join(lines) + "\n")
    assert produced.returncode == 0, produced.stderr

    seen = {}
    total = 0
    for partition in range(3):
        consumed = weir_run(weir, "consume", "--topic", "t", "--bootstrap-server", bootstrap,
                            "--partition", str(partition), "--offset", "0",
                            "--timeout-ms", "1500", "--property", "print.key=true",
                            "--property", "key.separator=:")
        assert consumed.returncode == 0, consumed.stderr
        for line in consumed.stdout.splitlines():
            key, value = line.split(":", 1)
            assert seen.setdefault(key, partition) == partition, f"{key} in two partitions"
            total += 1
            lines.remove(f"{key}:{value}")
    assert total == 2000 and not lines, f"{total} records back, missing {lines[:5]}"

    perf = weir_run(weir, "perf", "produce", "--topic", "perf", "--num-records", "20000",
                    "--record-size", "100", "--throughput", "-1", "--producer-props", "acks=1",
                    "--bootstrap-server", bootstrap)
    assert perf.returncode == 0, perf.stderr
    assert "20000 records sent" in perf.stdout, perf.stdout
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
