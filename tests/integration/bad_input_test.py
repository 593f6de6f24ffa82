#!/usr/bin/python3
"""Bad input on raw sockets against a real weir server (auto.create.topics.enable=false):
oversized and negative frames, an unknown api key, ApiVersions v99, Produce with a bad
CRC, a truncated batch and batches whose length field lies, a batch over
message.max.bytes, produce and metadata for a missing topic, invalid topic names in
CreateTopics. Also pipelined requests (answered in order, none for acks=0). After each
bad input, a connection opened
before and a fresh one are still served, and the stored data -- every record read back
and the bytes of every .log file -- is unchanged.

usage: bad_input_test.py path/to/weir
"""

import struct

import harness
import wire

TOPIC = "stored"
MAX_REQUEST = 1 << 20  # socket.request.max.bytes for this server
MAX_MESSAGE = 100_000  # message.max.bytes: the largest batch a topic takes


def main():
    weir = harness.weir_binary()
    t = harness.Checks()
    overrides = ["auto.create.topics.enable=false", f"socket.request.max.bytes={MAX_REQUEST}",
                 f"message.max.bytes={MAX_MESSAGE}"]
    with harness.WeirServer(weir, overrides=overrides) as server:
        port = server.port
        setup = wire.Connection(port)
        error, apis = setup.api_versions()
        t.equal(error, 0, "ApiVersions v0: no error")
        produce_v = min(apis[wire.API_PRODUCE][1], 8)
        metadata_v = min(apis[wire.API_METADATA][1], 8)
        create_v = min(apis[wire.API_CREATE_TOPICS][1], 4)
        print(f"using Produce v{produce_v}, Metadata v{metadata_v}, CreateTopics v{create_v}")

        created = wire.parse_create_topics_response(
            setup.request(wire.API_CREATE_TOPICS, create_v, wire.create_topics_body([TOPIC])), create_v)
        t.equal(created.get(TOPIC, (None,))[0], 0, f"CreateTopics {TOPIC}")

        # The hand-made batch is accepted: the bad ones below fail for what is wrong
        # with them, not for the encoder.
        def produce(conn, batch, topic=TOPIC):
            data = conn.request(wire.API_PRODUCE, produce_v, wire.produce_body(topic, 0, batch))
            return wire.parse_produce_response(data, produce_v)[(topic, 0)]

        good = [f"good-{i}".encode() for i in range(10)]
        t.equal(produce(setup, wire.record_batch(good[:5])), (0, 0), "a valid hand-made batch: offset 0")
        t.equal(produce(setup, wire.record_batch(good[5:])), (0, 5), "a second one: offset 5")

        # Pipelining: requests sent back to back are answered in request order; an
        # acks=0 Produce gets no response but its records still land in order.
        pipelined = [
            (wire.API_API_VERSIONS, 0, b"", True),
            (wire.API_METADATA, metadata_v, wire.metadata_body([TOPIC], metadata_v), True),
            (wire.API_PRODUCE, produce_v, wire.produce_body(TOPIC, 0, wire.record_batch([b"pipe-0"]), acks=0), False),
            (wire.API_PRODUCE, produce_v, wire.produce_body(TOPIC, 0, wire.record_batch([b"pipe-1"])), True),
            (wire.API_METADATA, metadata_v, wire.metadata_body([], metadata_v), True),
            (wire.API_API_VERSIONS, 0, b"", True),
        ]
        setup.send_raw(b"".join(wire.frame(key, version, 100 + n, body)
                                for n, (key, version, body, _) in enumerate(pipelined)))
        answered = []
        for n, (key, version, body, answers) in enumerate(pipelined):
            if answers:
                correlation, data = setup.recv_response(0)
                answered.append(correlation)
                if key == wire.API_PRODUCE:
                    t.equal(wire.parse_produce_response(data, version)[(TOPIC, 0)], (0, 11),
                            "pipelined acks=all Produce after an acks=0 one: offset 11")
        t.equal(answered, [100, 101, 103, 104, 105],
                "6 pipelined requests: 5 responses in request order, none for acks=0")
        good += [b"pipe-0", b"pipe-1"]
        setup.close()

        def snapshot():
            """Every stored record (read back through a client) and every .log's bytes."""
            logs = {k: v for k, v in server.log_files().items() if k.startswith(f"{TOPIC}-0/")}
            return read_all(server.bootstrap), logs

        baseline = snapshot()
        t.equal(baseline[0], [(o, v) for o, v in enumerate(good)], "baseline: the 12 records read back")
        bystander = wire.Connection(port)  # opened before the bad input, used after it

        def still_served(what):
            for name, conn in (("the open connection", bystander), ("a new connection", None)):
                c = conn or wire.Connection(port)
                try:
                    error, apis = c.api_versions()
                    t.check(error == 0 and wire.API_PRODUCE in apis, f"{what}: {name} is still served")
                except (OSError, ConnectionError, AssertionError) as e:
                    t.check(False, f"{what}: {name} is still served ({e})")
                if conn is None:
                    c.close()
            t.check(snapshot() == baseline, f"{what}: stored records and .log bytes unchanged")

        # --- frames that close the connection ----------------------------------------------
        def expect_closed(what, data):
            c = wire.Connection(port)
            try:
                c.send_raw(data)
            except OSError:
                pass
            t.check(c.closed_by_server(), f"{what}: connection closed")
            c.close()
            still_served(what)

        expect_closed(f"frame size {MAX_REQUEST + 1} > socket.request.max.bytes",
                      struct.pack(">i", MAX_REQUEST + 1) + b"\0" * 64)
        expect_closed("frame size 2**31-1", struct.pack(">i", 2**31 - 1))
        expect_closed("negative frame size -1", struct.pack(">i", -1) + b"\0" * 16)
        expect_closed("negative frame size -2**31", struct.pack(">i", -2**31))
        expect_closed("unknown api key 9999", wire.frame(9999, 0, 1, b""))
        expect_closed("unknown api key -1", wire.frame(-1, 0, 1, b""))
        expect_closed("a frame too short for a header", struct.pack(">i", 3) + b"\0\0\0")
        expect_closed("a Metadata header cut inside the client id",
                      struct.pack(">i", 10) + wire.i16(3) + wire.i16(1) + wire.i32(1) + wire.i16(50))

        # --- ApiVersions v99 -------------------------------------------------------------
        c = wire.Connection(port)
        c.send_raw(wire.frame(wire.API_API_VERSIONS, 99, 4242,
                              b"\x05weir\x041.0\x00", header_version=2))
        try:
            correlation, body = c.recv_response(0)
            error, listed = wire.parse_api_versions_v0(body)
            t.equal(correlation, 4242, "ApiVersions v99: the response carries its correlation id")
            t.equal(error, 35, "ApiVersions v99: error UNSUPPORTED_VERSION (35)")
            t.check(wire.API_API_VERSIONS in listed and wire.API_PRODUCE in listed and
                    listed[wire.API_API_VERSIONS][0] == 0,
                    f"ApiVersions v99: the v0 body lists the apis ({len(listed)} of them)")
            error, _ = c.api_versions()
            t.equal(error, 0, "ApiVersions v99: the same connection then serves ApiVersions v0")
        except (ConnectionError, ValueError, OSError) as e:
            t.check(False, f"ApiVersions v99: a v0 response with error 35 ({e})")
        c.close()
        still_served("ApiVersions v99")

        # --- produce errors ------------------------------------------------------------
        def expect_produce_error(what, batch, expected, topic=TOPIC):
            c = wire.Connection(port)
            try:
                error, _ = produce(c, batch, topic)
                if expected is None:
                    t.check(error != 0, f"{what}: an error for the partition (got {error})")
                else:
                    t.equal(error, expected, f"{what}: partition error")
            except (ConnectionError, OSError, KeyError) as e:
                t.check(False, f"{what}: a Produce response with an error ({e!r})")
            c.close()
            still_served(what)

        batch = bytearray(wire.record_batch([b"evil-1", b"evil-2"]))
        bad_crc = bytearray(batch)
        bad_crc[17] ^= 0xFF  # the CRC field itself
        expect_produce_error("Produce, CRC field flipped", bytes(bad_crc), 2)
        flipped = bytearray(batch)
        flipped[-3] ^= 0x01  # a record's value byte: the CRC no longer matches
        expect_produce_error("Produce, one value byte flipped", bytes(flipped), 2)
        expect_produce_error("Produce, batch truncated", bytes(batch[:-5]), None)
        expect_produce_error("Produce, batch cut inside its header", bytes(batch[:30]), None)
        longer = bytearray(batch)
        struct.pack_into(">i", longer, 8, struct.unpack_from(">i", batch, 8)[0] + 100)
        expect_produce_error("Produce, batch length claims 100 bytes more", bytes(longer), None)
        shorter = bytearray(batch)
        struct.pack_into(">i", shorter, 8, struct.unpack_from(">i", batch, 8)[0] - 4)
        expect_produce_error("Produce, batch length claims 4 bytes less", bytes(shorter), None)
        negative = bytearray(batch)
        struct.pack_into(">i", negative, 8, -1)
        expect_produce_error("Produce, negative batch length", bytes(negative), None)
        # zstd needs Produce v7+ (KIP-110): an older request gets UNSUPPORTED_COMPRESSION_TYPE.
        zstd = bytearray(batch)
        zstd[22] |= 0x04  # the attributes' codec bits
        struct.pack_into(">I", zstd, 17, wire.crc32c(bytes(zstd[21:])))
        c = wire.Connection(port)
        try:
            data = c.request(wire.API_PRODUCE, 3, wire.produce_body(TOPIC, 0, bytes(zstd)))
            t.equal(wire.parse_produce_response(data, 3)[(TOPIC, 0)][0], 76,
                    "Produce v3 with a zstd batch: UNSUPPORTED_COMPRESSION_TYPE (76)")
        except (ConnectionError, OSError, KeyError) as e:
            t.check(False, f"Produce v3 with a zstd batch: a response ({e!r})")
        c.close()
        still_served("Produce v3 with a zstd batch")
        expect_produce_error(f"Produce, a batch over message.max.bytes={MAX_MESSAGE}",
                             wire.record_batch([b"y" * (MAX_MESSAGE + 1000)]), 10)
        expect_produce_error("Produce, missing topic (auto-create off)",
                             wire.record_batch([b"lost"]), 3, topic="no-such-topic")

        # --- metadata for a missing topic ---------------------------------------------------
        c = wire.Connection(port)
        topics = wire.parse_metadata_response(
            c.request(wire.API_METADATA, metadata_v, wire.metadata_body(["no-such-topic", TOPIC], metadata_v)), metadata_v)
        t.equal(topics.get("no-such-topic", (None,))[0], 3,
                "Metadata for a missing topic (auto-create off, allowed by the request): error 3")
        t.equal(topics.get(TOPIC), (0, [(0, 0, 1)]), f"Metadata for {TOPIC} in the same request: partition 0 led by 1")
        c.close()
        still_served("Metadata for a missing topic")

        # --- invalid topic names -----------------------------------------------------------
        invalid = ["bad/name", "spaces are bad", ".", "..", "x" * 250, "", "ünïcödé"]
        c = wire.Connection(port)
        answer = wire.parse_create_topics_response(
            c.request(wire.API_CREATE_TOPICS, create_v, wire.create_topics_body(invalid)), create_v)
        for name in invalid:
            t.equal(answer.get(name, (None,))[0], 17, f"CreateTopics {name[:20]!r}: INVALID_TOPIC_EXCEPTION (17)")
        answer = wire.parse_create_topics_response(
            c.request(wire.API_CREATE_TOPICS, create_v, wire.create_topics_body(["fine", "bad/name"])), create_v)
        t.equal({k: v[0] for k, v in answer.items()}, {"fine": 0, "bad/name": 17},
                "CreateTopics with one valid and one invalid name: each answered on its own")
        c.close()
        still_served("invalid topic names")
        bystander.close()
        server.stop()
    t.finish()


def read_all(bootstrap):
    """[(offset, value)] of partition 0 of TOPIC, read with kafka-python."""
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, consumer_timeout_ms=2000,
                             auto_offset_reset="earliest")
    tp = TopicPartition(TOPIC, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    end = consumer.end_offsets([tp])[tp]
    out = []
    for r in consumer:
        out.append((r.offset, r.value))
        if r.offset + 1 >= end:
            break
    consumer.close()
    return out


if __name__ == "__main__":
    harness.require_module("kafka")
    main()
