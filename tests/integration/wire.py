"""Kafka's wire format by hand, for the bad-input tests: request framing, a few
request bodies (non-flexible versions), their responses, and record batches v2 with a
CRC-32C of our own, so a test can send exactly the bytes it means to."""

import socket
import struct

# --- CRC-32C (Castagnoli), as record batches v2 carry it ----------------------------
_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value


# --- primitives ------------------------------------------------------------------------
def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def string(s):
    if s is None:
        return i16(-1)
    b = s.encode() if isinstance(s, str) else s
    return i16(len(b)) + b


def array(items):
    return i32(len(items)) + b"".join(items)


def uvarint(v):
    out = b""
    while True:
        if v < 0x80:
            return out + bytes([v])
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7


def varint(v):
    return uvarint((v << 1) ^ (v >> 63))


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError(f"response truncated at {self.pos} (+{n} of {len(self.data)})")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def array(self, item):
        n = self.i32()
        return [] if n < 0 else [item(self) for _ in range(n)]


# --- record batches v2 ---------------------------------------------------------------
def record(offset_delta, key, value, timestamp_delta=0):
    body = i8(0) + varint(timestamp_delta) + varint(offset_delta)
    body += varint(-1) if key is None else varint(len(key)) + key
    body += varint(-1) if value is None else varint(len(value)) + value
    body += uvarint(0)  # no headers
    return varint(len(body)) + body


def record_batch(values, timestamp=1_700_000_000_000, keys=None):
    """One uncompressed batch v2 (base offset 0; the broker assigns offsets)."""
    records = b"".join(record(i, keys[i] if keys else None, v) for i, v in enumerate(values))
    after_crc = (i16(0) + i32(len(values) - 1) + i64(timestamp) + i64(timestamp) + i64(-1) +
                 i16(-1) + i32(-1) + i32(len(values)) + records)
    crc = struct.pack(">I", crc32c(after_crc))
    after_length = i32(-1) + i8(2) + crc + after_crc
    return i64(0) + i32(len(after_length)) + after_length


# --- requests --------------------------------------------------------------------------
API_PRODUCE, API_METADATA, API_API_VERSIONS, API_CREATE_TOPICS = 0, 3, 18, 19


def frame(api_key, api_version, correlation_id, body, header_version=1, client_id="weir-integ"):
    header = i16(api_key) + i16(api_version) + i32(correlation_id) + string(client_id)
    if header_version >= 2:
        header += uvarint(0)  # tagged fields
    payload = header + body
    return i32(len(payload)) + payload


def produce_body(topic, partition, batch_bytes, acks=-1, timeout_ms=10000):
    """Produce v3..v8: transactional_id, acks, timeout, [topic [partition records]]."""
    part = i32(partition) + i32(len(batch_bytes)) + batch_bytes
    return string(None) + i16(acks) + i32(timeout_ms) + array([string(topic) + array([part])])


def parse_produce_response(data, version):
    r = Reader(data)
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            index, error = r.i32(), r.i16()
            base_offset = r.i64()
            if version >= 2:
                r.i64()  # log_append_time
            if version >= 5:
                r.i64()  # log_start_offset
            if version >= 8:
                r.array(lambda rr: (rr.i32(), rr.string()))  # record_errors
                r.string()  # error_message
            out[(name, index)] = (error, base_offset)
    return out


def metadata_body(topics, version, allow_auto_create=True):
    """Metadata v4..v8 (v8 adds the two include-authorized-operations flags)."""
    body = array([string(t) for t in topics]) + i8(1 if allow_auto_create else 0)
    return body + (i8(0) + i8(0) if version >= 8 else b"")


def parse_metadata_response(data, version):
    r = Reader(data)
    r.i32()  # throttle
    r.array(lambda rr: (rr.i32(), rr.string(), rr.i32(), rr.string()))  # brokers
    r.string()  # cluster id
    r.i32()  # controller
    topics = {}
    for _ in range(r.i32()):
        error, name = r.i16(), r.string()
        r.i8()  # is_internal
        parts = []
        for _ in range(r.i32()):
            perr, index, leader = r.i16(), r.i32(), r.i32()
            if version >= 7:
                r.i32()
            r.array(lambda rr: rr.i32())
            r.array(lambda rr: rr.i32())
            if version >= 5:
                r.array(lambda rr: rr.i32())
            parts.append((index, perr, leader))
        if version >= 8:
            r.i32()  # topic authorized operations
        topics[name] = (error, parts)
    return topics


def create_topics_body(names, partitions=1, replication=1, timeout_ms=10000):
    """CreateTopics v1..v4."""
    topics = [string(n) + i32(partitions) + i16(replication) + array([]) + array([]) for n in names]
    return array(topics) + i32(timeout_ms) + i8(0)


def parse_create_topics_response(data, version):
    r = Reader(data)
    if version >= 2:
        r.i32()
    out = {}
    for _ in range(r.i32()):
        name, error = r.string(), r.i16()
        message = r.string() if version >= 1 else None
        out[name] = (error, message)
    return out


def parse_api_versions_v0(data):
    r = Reader(data)
    error = r.i16()
    apis = {k: (lo, hi) for k, lo, hi in r.array(lambda rr: (rr.i16(), rr.i16(), rr.i16()))}
    return error, apis


# --- connections ----------------------------------------------------------------------
class Connection:
    def __init__(self, port, timeout=15.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.correlation = 0

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv_exactly(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed by the server")
            buf += chunk
        return buf

    def recv_response(self, header_version=0):
        """(correlation id, body bytes) of the next response."""
        (size,) = struct.unpack(">i", self.recv_exactly(4))
        data = self.recv_exactly(size)
        (correlation,) = struct.unpack(">i", data[:4])
        body = data[4:]
        if header_version >= 1:
            assert body[0] == 0, "response header tagged fields"
            body = body[1:]
        return correlation, body

    def request(self, api_key, api_version, body, header_version=1):
        self.correlation += 1
        self.send_raw(frame(api_key, api_version, self.correlation, body, header_version))
        correlation, data = self.recv_response(0)
        assert correlation == self.correlation, f"correlation {correlation} != {self.correlation}"
        return data

    def closed_by_server(self, timeout=15.0):
        """True when the server closes the connection (EOF or reset) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def api_versions(self):
        data = self.request(API_API_VERSIONS, 0, b"")
        return parse_api_versions_v0(data)


API_DELETE_RECORDS = 21


def delete_records_body(topic, partition, offset, timeout_ms=10000):
    """DeleteRecords v0/v1."""
    return array([string(topic) + array([i32(partition) + i64(offset)])]) + i32(timeout_ms)


def parse_delete_records_response(data):
    r = Reader(data)
    r.i32()  # throttle
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            index, low, error = r.i32(), r.i64(), r.i16()
            out[(name, index)] = (error, low)
    return out
