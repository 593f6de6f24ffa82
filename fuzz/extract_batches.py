#!/usr/bin/env python3
"""Writes the records field of each golden Produce request (tests/data/golden) to
<out-dir>/<name>.batch, seeding the record_batch fuzzer's corpus.

    extract_batches.py <golden-dir> <out-dir>

Reads classic (non-flexible) Produce frames, which is what the captured clients sent.
"""
import os
import struct
import sys


def records_fields(frame):
    api_key, version = struct.unpack(">hh", frame[:4])
    if api_key != 0 or version >= 9:
        return
    p = 8
    (client_id,) = struct.unpack(">h", frame[p:p + 2])
    p += 2 + max(client_id, 0)
    (transactional_id,) = struct.unpack(">h", frame[p:p + 2])
    p += 2 + max(transactional_id, 0) + 2 + 4  # acks, timeout
    (topics,) = struct.unpack(">i", frame[p:p + 4])
    p += 4
    for _ in range(topics):
        (name,) = struct.unpack(">h", frame[p:p + 2])
        p += 2 + name
        (partitions,) = struct.unpack(">i", frame[p:p + 4])
        p += 4
        for _ in range(partitions):
            p += 4
            (size,) = struct.unpack(">i", frame[p:p + 4])
            p += 4
            if size > 0:
                yield frame[p:p + size]
                p += size


def main():
    golden, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(golden)):
        if "-produce-" not in name:
            continue
        with open(os.path.join(golden, name), "rb") as f:
            frame = f.read()
        for i, field in enumerate(records_fields(frame)):
            with open(os.path.join(out, f"{name[:-4]}-{i}.batch"), "wb") as f:
                f.write(field)


if __name__ == "__main__":
    main()
