#!/usr/bin/env python3
"""`weir` usage: --help exits 0; bad arguments exit 2 with a message naming the
argument, before any connection is tried. Usage: usage_test.py WEIR"""
import subprocess
import sys


def run(weir, *args):
    return subprocess.run([weir, *args], capture_output=True, text=True, timeout=30)


def main():
    weir = sys.argv[1]
    for args in [["--help"], ["topic", "--help"], ["produce", "--help"], ["consume", "--help"],
                 ["perf", "--help"], ["perf", "produce", "--help"],
                 ["perf", "consume", "--help"], ["group", "--help"]]:
        result = run(weir, *args)
        assert result.returncode == 0, (args, result.returncode, result.stderr)
        assert "Usage" in result.stdout, (args, result.stdout)
    bad = [
        (["frobnicate"], "frobnicate"),
        (["topic", "create"], "--topic"),
        (["topic", "explode", "--topic", "t"], "explode"),
        (["topic", "create", "--topic", "t", "--partitions", "zero"], "--partitions"),
        (["topic", "create", "--topic", "t", "--config", "novalue"], "--config"),
        (["produce"], "--topic"),
        (["produce", "--topic", "t", "--acks", "2"], "--acks"),
        (["produce", "--topic", "t", "--compression", "brotli"], "--compression"),
        (["produce", "--topic", "t", "--bootstrap-server", "nohostport"], "--bootstrap-server"),
        (["consume", "--topic", "t", "--offset", "5"], "--partition"),
        (["consume", "--topic", "t", "--max-messages", "-3"], "--max-messages"),
        (["consume", "--topic", "t", "--wat"], "--wat"),
        (["perf", "produce", "--topic", "t", "--num-records", "10", "--record-size", "10"],
         "--throughput"),
        (["perf", "produce", "--topic", "t", "--num-records", "10", "--record-size", "10",
          "--throughput", "-1", "--producer-props", "linger.ms=soon"], "linger.ms"),
        (["perf", "consume", "--topic", "t"], "--messages"),
        (["consume", "--topic", "t", "--group", "g", "--partition", "0"], "--partition"),
        (["consume", "--topic", "t", "--topic", "u"], "--group"),
        (["consume", "--topic", "t", "--group", "g", "--consumer-property",
          "session.timeout.ms=soon"], "session.timeout.ms"),
        (["consume", "--topic", "t", "--group", "g", "--consumer-property",
          "heartbeat.interval.ms=60000"], "heartbeat.interval.ms"),
        (["consume", "--topic", "t", "--group", "g", "--consumer-property",
          "partition.assignment.strategy=sticky"], "partition.assignment.strategy"),
        (["group"], "missing action"),
        (["group", "explode", "g"], "explode"),
        (["group", "describe"], "GROUP"),
        (["group", "reset-offsets", "g", "--to-earliest", "--execute"], "--topic"),
        (["group", "reset-offsets", "g", "--topic", "t", "--execute"], "--to-earliest"),
        (["group", "reset-offsets", "g", "--topic", "t", "--to-latest", "--to-earliest",
          "--dry-run"], "exactly one"),
        (["group", "reset-offsets", "g", "--topic", "t", "--to-latest"], "--dry-run"),
        (["group", "reset-offsets", "g", "--topic", "t", "--to-datetime", "yesterday",
          "--dry-run"], "--to-datetime"),
        (["group", "reset-offsets", "g", "--topic", "t:x", "--to-latest", "--dry-run"], "--topic"),
        (["group", "reset-offsets", "g", "--topic", "t", "--to-offset", "-1", "--dry-run"],
         "--to-offset"),
    ]
    for args, needle in bad:
        result = run(weir, *args)
        assert result.returncode == 2, (args, result.returncode, result.stderr)
        assert needle in result.stderr, (args, needle, result.stderr)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
