#!/usr/bin/python3
"""A minimal Kafka impostor that records what real clients send.

It listens on 127.0.0.1, answers just enough for a producer to get going —
ApiVersions, Metadata (one broker: itself; one topic "golden" with one partition),
InitProducerId and Produce (always success) — and writes every request frame it
receives (without the 4-byte size prefix) to <out-dir>/<prefix>-<api>-v<version>-<n>.bin,
skipping exact duplicates. tests/data/README.md lists the commands that recorded
the files checked in beside it; tests/protocol/golden_test.cc decodes them.

    capture.py <out-dir> <prefix> <port> <seconds> -- <client command...>

runs the client command with the listener up, stops after it exits (or after
<seconds>), and exits with the client's status.
"""
import hashlib
import os
import socket
import struct
import subprocess
import sys
import threading

API_NAMES = {0: "produce", 3: "metadata", 18: "api_versions", 22: "init_producer_id"}
# Versions advertised, kept within what this file knows how to answer.
# Produce is advertised from version 0, as Kafka 4.x does (KAFKA-18659) although it
# refuses versions 0-2: librdkafka enables its "MsgVer1" feature, and with it gzip,
# snappy and lz4, only when the broker lists Produce v2.
ADVERTISED = {0: (0, 9), 3: (0, 12), 18: (0, 3), 22: (0, 4)}
FLEXIBLE_FROM = {0: 9, 3: 9, 18: 3, 22: 2}
# Advertised but never answered: librdkafka derives "features" (compression codecs
# among them) from the whole list, and compresses nothing for a broker that looks
# too old. A producer never sends these.
ADVERTISED_ONLY = {1: (4, 11), 2: (1, 5), 8: (2, 7), 9: (1, 7), 10: (0, 3), 11: (2, 5),
                   12: (0, 3), 13: (0, 3), 14: (0, 3), 15: (0, 4), 16: (0, 3),
                   17: (0, 1), 19: (2, 4), 20: (1, 3), 21: (0, 1), 23: (2, 3),
                   24: (0, 1), 25: (0, 1), 26: (0, 1), 28: (0, 2), 36: (0, 1)}
TOPIC = b"golden"


def uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class Encoder:
    def __init__(self, flexible):
        self.flexible = flexible
        self.out = bytearray()

    def i8(self, v): self.out += struct.pack(">b", v); return self
    def i16(self, v): self.out += struct.pack(">h", v); return self
    def i32(self, v): self.out += struct.pack(">i", v); return self
    def i64(self, v): self.out += struct.pack(">q", v); return self
    def raw(self, b): self.out += b; return self

    def string(self, s):
        if s is None:
            self.out += uvarint(0) if self.flexible else struct.pack(">h", -1)
        else:
            self.out += uvarint(len(s) + 1) if self.flexible else struct.pack(">h", len(s))
            self.out += s
        return self

    def array(self, n):
        self.out += uvarint(n + 1) if self.flexible else struct.pack(">i", n)
        return self

    def tags(self):
        if self.flexible:
            self.out += b"\x00"
        return self


def api_versions_response(version):
    e = Encoder(version >= 3)
    advertised = {**ADVERTISED, **ADVERTISED_ONLY}
    e.i16(0).array(len(advertised))
    for key, (low, high) in sorted(advertised.items()):
        e.i16(key).i16(low).i16(high).tags()
    if version >= 1:
        e.i32(0)
    return e.tags().out


def metadata_response(version, port):
    e = Encoder(version >= 9)
    if version >= 3:
        e.i32(0)
    e.array(1).i32(0).string(b"127.0.0.1").i32(port)
    if version >= 1:
        e.string(None)
    e.tags()
    if version >= 2:
        e.string(b"weir-golden-capture")
    if version >= 1:
        e.i32(0)
    e.array(1).i16(0).string(TOPIC)
    if version >= 10:
        e.raw(bytes(range(1, 17)))
    if version >= 1:
        e.i8(0)
    e.array(1).i16(0).i32(0).i32(0)
    if version >= 7:
        e.i32(0)
    e.array(1).i32(0).array(1).i32(0)
    if version >= 5:
        e.array(0)
    e.tags()
    if version >= 8:
        e.i32(-2147483648)
    e.tags()
    if 8 <= version <= 10:
        e.i32(-2147483648)
    return e.tags().out


def init_producer_id_response(version):
    e = Encoder(version >= 2)
    return e.i32(0).i16(0).i64(4242).i16(0).tags().out


class ProduceState:
    def __init__(self):
        self.next_offset = 0
        self.lock = threading.Lock()


def produce_response(version, state):
    e = Encoder(version >= 9)
    with state.lock:
        offset = state.next_offset
        state.next_offset += 1000
    e.array(1).string(TOPIC).array(1).i32(0).i16(0).i64(offset).i64(-1)
    if version >= 5:
        e.i64(0)
    if version >= 8:
        e.array(0).string(None)
    e.tags().tags()
    return e.i32(0).tags().out


def read_exactly(conn, n):
    data = bytearray()
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def serve(conn, out_dir, prefix, port, seen, state):
    with conn:
        while True:
            size = read_exactly(conn, 4)
            if size is None:
                return
            frame = read_exactly(conn, struct.unpack(">i", size)[0])
            if frame is None:
                return
            api_key, version, correlation_id = struct.unpack(">hhi", frame[:8])
            digest = hashlib.sha256(frame).hexdigest()
            name = API_NAMES.get(api_key, f"api{api_key}")
            with state.lock:
                if digest not in seen:
                    seen.add(digest)
                    count = sum(1 for f in os.listdir(out_dir)
                                if f.startswith(f"{prefix}-{name}-v{version}-"))
                    path = os.path.join(out_dir, f"{prefix}-{name}-v{version}-{count}.bin")
                    with open(path, "wb") as f:
                        f.write(frame)
            if api_key == 18:
                # ApiVersions: response header v0 always; a too-new version gets
                # UNSUPPORTED_VERSION in a v0 body, as Kafka does.
                if version > ADVERTISED[18][1]:
                    body = Encoder(False).i16(35).array(1).i16(18).i16(0).i16(3).out
                else:
                    body = api_versions_response(version)
            elif api_key == 3:
                body = metadata_response(version, port)
            elif api_key == 22:
                body = init_producer_id_response(version)
            elif api_key == 0:
                body = produce_response(version, state)
                # acks=0 gets no response; acks sits after transactional_id.
                flexible = version >= FLEXIBLE_FROM[0]
                # Header: key, version, correlation id, client id (int16-prefixed),
                # then one byte of tagged fields in header v2.
                header_end = 10 + struct.unpack(">h", frame[8:10])[0] + (1 if flexible else 0)
                try:
                    if flexible:
                        length = frame[header_end] - 1
                        position = header_end + 1 + max(length, 0)
                    else:
                        length = struct.unpack(">h", frame[header_end:header_end + 2])[0]
                        position = header_end + 2 + max(length, 0)
                    acks = struct.unpack(">h", frame[position:position + 2])[0]
                except (IndexError, struct.error):
                    acks = -1
                if acks == 0:
                    continue
            else:
                return
            flexible_response = api_key != 18 and version >= FLEXIBLE_FROM[api_key]
            header = struct.pack(">i", correlation_id) + (b"\x00" if flexible_response else b"")
            conn.sendall(struct.pack(">i", len(header) + len(body)) + header + body)


def main():
    separator = sys.argv.index("--")
    out_dir, prefix, port, seconds = sys.argv[1:separator]
    port, seconds = int(port), float(seconds)
    command = sys.argv[separator + 1:]
    os.makedirs(out_dir, exist_ok=True)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen()
    seen, state = set(), ProduceState()

    def accept_loop():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn, out_dir, prefix, port, seen, state),
                             daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    try:
        status = subprocess.run(command, timeout=seconds).returncode
    except subprocess.TimeoutExpired:
        status = 124
    listener.close()
    sys.exit(status)


if __name__ == "__main__":
    main()
