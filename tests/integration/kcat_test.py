#!/usr/bin/python3
"""kcat against a real weir server: metadata (-L, -J), produce and consume with every
compression codec, keys and headers round trip, consume from given offsets, auto topic
creation.

usage: kcat_test.py path/to/weir
"""

import json
import struct
import subprocess

import harness

CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
COUNT = 2000


def kcat(*args, stdin=None, timeout=60):
    r = subprocess.run([KCAT, *args], input=stdin, capture_output=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def stored_codecs(log_bytes):
    """The compression codec of every record batch in a .log file (attributes & 7)."""
    codecs, pos = [], 0
    while pos + 61 <= len(log_bytes):
        (length,) = struct.unpack_from(">i", log_bytes, pos + 8)
        (attributes,) = struct.unpack_from(">h", log_bytes, pos + 21)
        codecs.append(attributes & 7)
        pos += 12 + length
    return codecs


def main():
    weir = harness.weir_binary()
    global KCAT
    KCAT = harness.require_program("kcat")
    t = harness.Checks()
    # Auto-create off: `kcat -L -t missing` must not create the topic it asks about.
    with harness.WeirServer(weir, overrides=["auto.create.topics.enable=false"]) as server:
        b = server.bootstrap
        for codec in CODECS:
            server.create_topic(f"kcat-{codec}", partitions=1)
        server.create_topic("kcat-multi", partitions=3)

        # --- metadata -----------------------------------------------------------------
        code, out, err = kcat("-b", b, "-L")
        text = out.decode()
        t.equal(code, 0, f"kcat -L exits 0 ({err.decode().strip()})")
        t.check(f"broker 1 at 127.0.0.1:{server.port}" in text, "kcat -L lists broker 1 at the bound port")
        t.check('topic "kcat-multi" with 3 partitions' in text, "kcat -L lists kcat-multi with 3 partitions")
        for codec in CODECS:
            t.check(f'topic "kcat-{codec}" with 1 partitions' in text, f"kcat -L lists kcat-{codec}")
        t.check("partition 2, leader 1, replicas: 1, isrs: 1" in text, "kcat -L: partition 2 led by node 1, in sync")

        code, out, err = kcat("-b", b, "-L", "-J")
        if code == 0 and out.strip():
            meta = json.loads(out)
            t.equal([(br["id"], br["name"]) for br in meta["brokers"]], [(1, f"127.0.0.1:{server.port}")],
                    "kcat -L -J brokers")
            topics = {tp["topic"]: tp for tp in meta["topics"]}
            t.equal(sorted(topics), sorted([f"kcat-{c}" for c in CODECS] + ["kcat-multi"]), "kcat -L -J topics")
            multi = topics.get("kcat-multi", {"partitions": []})
            t.equal(sorted(p["partition"] for p in multi["partitions"]), [0, 1, 2], "kcat -L -J partitions")
            t.check(all(p["leader"] == 1 and p.get("error") is None for p in multi["partitions"]),
                    "kcat -L -J: every partition led by 1, no error")
        else:
            t.check(False, f"kcat -L -J: exit {code}, {err.decode().strip()}")

        code, out, err = kcat("-b", b, "-L", "-t", "no-such-topic")
        t.check("Unknown topic" in out.decode() + err.decode() or "UNKNOWN_TOPIC" in out.decode() + err.decode(),
                "kcat -L -t missing-topic reports an unknown topic")

        # --- produce and consume with every codec --------------------------------------
        for codec, codec_id in CODECS.items():
            topic = f"kcat-{codec}"
            lines = "".join(f"key-{i}\tvalue-{i}-{'x' * (i % 50)}\n" for i in range(COUNT))
            code, out, err = kcat("-b", b, "-P", "-t", topic, "-p", "0", "-z", codec, "-K", "\t",
                                  "-H", "origin=kcat", "-H", f"codec={codec}", "-X", "acks=all",
                                  stdin=lines.encode())
            t.equal(code, 0, f"{codec}: kcat -P exits 0 ({err.decode().strip()[-300:]})")
            code, out, err = kcat("-b", b, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-J")
            t.equal(code, 0, f"{codec}: kcat -C exits 0 ({err.decode().strip()[-300:]})")
            msgs = [json.loads(l) for l in out.decode().splitlines() if l.strip()]
            t.equal(len(msgs), COUNT, f"{codec}: consumed count")
            t.equal([m["offset"] for m in msgs], list(range(COUNT)), f"{codec}: offsets 0..{COUNT - 1} in order")
            t.check(all(m["key"] == f"key-{i}" and m["payload"] == f"value-{i}-{'x' * (i % 50)}"
                        for i, m in enumerate(msgs)), f"{codec}: keys and values round trip")
            t.check(all(m.get("headers") == ["origin", "kcat", "codec", codec] for m in msgs),
                    f"{codec}: headers round trip ({msgs[0].get('headers') if msgs else None})")
            logs = [v for k, v in server.log_files().items() if k.startswith(topic + "-0/")]
            stored = [c for data in logs for c in stored_codecs(data)]
            t.check(stored and all(c == codec_id for c in stored),
                    f"{codec}: every stored batch has codec {codec_id} (stored: {stored})")

        # --- consume from offsets -------------------------------------------------------
        def offsets(*args):
            code, out, err = kcat("-b", b, "-C", "-t", "kcat-zstd", "-p", "0", "-e", "-f", "%o %k %s\n", *args)
            rows = [l.split(" ") for l in out.decode().splitlines() if l]
            return code, rows

        code, rows = offsets("-o", "1500", "-c", "5")
        t.equal([(int(r[0]), r[1]) for r in rows], [(o, f"key-{o}") for o in range(1500, 1505)],
                "kcat -o 1500 -c 5 reads offsets 1500..1504")
        code, rows = offsets("-o", "-3")
        t.equal([int(r[0]) for r in rows], [COUNT - 3, COUNT - 2, COUNT - 1], "kcat -o -3 reads the last 3")
        code, rows = offsets("-o", "end")
        t.equal(rows, [], "kcat -o end -e reads nothing")
        code, rows = offsets("-o", "beginning", "-c", "1")
        t.equal([int(r[0]) for r in rows], [0], "kcat -o beginning -c 1 reads offset 0")

        # --- keyed produce to a 3-partition topic: the same key, the same partition --------
        lines = "".join(f"k{i % 10}\tv{i}\n" for i in range(300))
        code, out, err = kcat("-b", b, "-P", "-t", "kcat-multi", "-K", "\t", "-z", "lz4", stdin=lines.encode())
        t.equal(code, 0, "kcat -P keyed to 3 partitions")
        code, out, err = kcat("-b", b, "-C", "-t", "kcat-multi", "-o", "beginning", "-e", "-J")
        msgs = [json.loads(l) for l in out.decode().splitlines() if l.strip()]
        t.equal(len(msgs), 300, "kcat-multi: all 300 consumed")
        by_key = {}
        for m in msgs:
            by_key.setdefault(m["key"], set()).add(m["partition"])
        t.check(all(len(p) == 1 for p in by_key.values()), "kcat-multi: each key on one partition")
        t.check(len({m["partition"] for m in msgs}) > 1, "kcat-multi: keys spread over more than one partition")
        for p in range(3):
            offs = [m["offset"] for m in msgs if m["partition"] == p]
            t.equal(offs, list(range(len(offs))), f"kcat-multi partition {p}: dense offsets")
            vals = [int(m["payload"][1:]) for m in msgs if m["partition"] == p]
            t.equal(vals, sorted(vals), f"kcat-multi partition {p}: values in send order")
        server.stop()

    # --- auto topic creation (on, as Kafka's default), with the server's num.partitions ---
    with harness.WeirServer(weir, overrides=["auto.create.topics.enable=true", "num.partitions=2"]) as server:
        b = server.bootstrap
        lines = "".join(f"k{i}\tauto-{i}\n" for i in range(50))
        code, out, err = kcat("-b", b, "-P", "-t", "auto-made", "-K", "\t", stdin=lines.encode())
        t.equal(code, 0, f"auto-create: kcat -P to a new topic exits 0 ({err.decode().strip()[-300:]})")
        code, out, err = kcat("-b", b, "-L", "-t", "auto-made")
        t.check('topic "auto-made" with 2 partitions' in out.decode(),
                "auto-create: the topic exists with num.partitions=2 partitions")
        code, out, err = kcat("-b", b, "-C", "-t", "auto-made", "-o", "beginning", "-e", "-f", "%s\n")
        t.equal(sorted(out.decode().split()), sorted(f"auto-{i}" for i in range(50)),
                "auto-create: all 50 records read back")
        server.stop()
    t.finish()


if __name__ == "__main__":
    main()
