#!/usr/bin/env python3
"""Prints bench/perf/run.sh's results as one table: records/s, MB/s, p50/p99 (ms),
and each weir row's share of the loopback TCP ceiling."""
import json
import re
import sys

LABELS = {
    "ceiling": "(a) loopback TCP ceiling",
    "produce_acks1": "(b) weir perf produce acks=1",
    "produce_acks1_big": "(b') same, batch.size=1MiB",
    "produce_all": "(c) weir perf produce acks=all",
    "consume": "(d) weir perf consume",
    "rdk_produce": "(e) librdkafka produce acks=1",
    "rdk_consume": "(f) librdkafka consume",
}


def main():
    path, records, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rows = []
    ceiling_mb = None
    for line in open(path):
        name, _, rest = line.strip().partition(" ")
        if name.startswith("rdk_"):
            # rdkperf prints "<mode> N msgs/s MB/s"
            numbers = re.findall(r"[-+]?\d+(?:\.\d+)?", rest)
            if len(numbers) < 3:
                continue
            rows.append((name, float(numbers[-2]), float(numbers[-1]), None, None))
            continue
        data = json.loads(rest)
        if name == "ceiling":
            ceiling_mb = data["mb_per_sec"]
            rows.append((name, data["bytes"] / size / data["seconds"], ceiling_mb, None, None))
        elif name == "consume":
            # Its latencies are end to end against records produced minutes earlier:
            # not a figure of the consumer.
            rows.append((name, data["records_per_sec"], data["mb_per_sec"], None, None))
        else:
            rows.append((name, data["records_per_sec"], data["mb_per_sec"], data["p50_ms"],
                         data["p99_ms"]))
    print()
    print(f"{records} records of {size} bytes")
    print(f"| {'run':32} | {'records/s':>11} | {'MB/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} "
          f"| {'of ceiling':>10} |")
    print(f"|{'-' * 34}|{'-' * 13}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 12}|")
    for name, rate, mb, p50, p99 in rows:
        share = f"{100 * mb / ceiling_mb:.1f}%" if ceiling_mb and name != "ceiling" else ""
        p50_text = f"{p50:.2f}" if p50 is not None else "-"
        p99_text = f"{p99:.2f}" if p99 is not None else "-"
        print(f"| {LABELS.get(name, name):32} | {rate:11.0f} | {mb:8.1f} | {p50_text:>7} "
              f"| {p99_text:>7} | {share:>10} |")


if __name__ == "__main__":
    main()
