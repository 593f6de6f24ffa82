// Primitive encodings, header versions, and decoders facing hostile bytes.
#include <gtest/gtest.h>

#include "protocol/errors.h"
#include "protocol/header.h"

namespace weir::protocol {
namespace {

Bytes encode_varint_bytes(int64_t value) {
  Bytes out;
  Writer writer(out);
  writer.write_varlong(value);
  return out;
}

TEST(Wire, ZigZagVarintsMatchKafka) {
  // Values from Kafka's ByteUtilsTest.
  EXPECT_EQ(encode_varint_bytes(0), (Bytes{0x00}));
  EXPECT_EQ(encode_varint_bytes(-1), (Bytes{0x01}));
  EXPECT_EQ(encode_varint_bytes(1), (Bytes{0x02}));
  EXPECT_EQ(encode_varint_bytes(63), (Bytes{0x7e}));
  EXPECT_EQ(encode_varint_bytes(-64), (Bytes{0x7f}));
  EXPECT_EQ(encode_varint_bytes(64), (Bytes{0x80, 0x01}));
  for (int64_t value : {INT64_MIN, INT64_MAX, int64_t{-300}, int64_t{123456789}}) {
    const Bytes bytes = encode_varint_bytes(value);
    Reader reader(bytes);
    EXPECT_EQ(reader.read_varlong(), value);
    EXPECT_TRUE(reader.ok());
    EXPECT_TRUE(reader.at_end());
  }
}

TEST(Wire, OverlongVarintsFail) {
  const Bytes eleven(11, 0xff);
  Reader long_reader(eleven);
  long_reader.read_uvarlong();
  EXPECT_EQ(long_reader.error(), DecodeError::invalid_varint);

  const Bytes six = {0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  Reader int_reader(six);
  int_reader.read_uvarint();
  EXPECT_EQ(int_reader.error(), DecodeError::invalid_varint);

  const Bytes overflow = {0xff, 0xff, 0xff, 0xff, 0x1f};  // 2^35 - 1 > UINT32_MAX
  Reader overflow_reader(overflow);
  overflow_reader.read_uvarint();
  EXPECT_EQ(overflow_reader.error(), DecodeError::invalid_varint);
}

TEST(Wire, HostileLengthsFailBeforeAllocating) {
  // Metadata v0: topics array of 2^31-1 elements in a 4-byte body.
  const Bytes huge_array = {0x7f, 0xff, 0xff, 0xff};
  auto array = decode_request_body(static_cast<int16_t>(ApiKey::metadata), 0, huge_array);
  EXPECT_EQ(array.error(), DecodeError::truncated);

  // A negative length other than -1.
  const Bytes negative = {0xff, 0xff, 0xff, 0xfe};
  auto negative_array =
      decode_request_body(static_cast<int16_t>(ApiKey::metadata), 0, negative);
  EXPECT_EQ(negative_array.error(), DecodeError::invalid_length);

  // A compact string claiming 2^32-2 bytes: SaslAuthenticate v2 auth bytes.
  const Bytes huge_compact = {0xff, 0xff, 0xff, 0xff, 0x0f};
  auto compact =
      decode_request_body(static_cast<int16_t>(ApiKey::sasl_authenticate), 2, huge_compact);
  EXPECT_EQ(compact.error(), DecodeError::truncated);

  // A tagged-field section claiming more fields than it has bytes.
  const Bytes tags = {0x00, 0x7f};  // ApiVersions v3: client name length... then tags
  auto tagged = decode_request_body(static_cast<int16_t>(ApiKey::api_versions), 3, tags);
  EXPECT_FALSE(tagged.ok());
}

TEST(Wire, NullWhereNotAllowedFails) {
  // Metadata v0: topics may not be null before v1.
  const Bytes null_topics = {0xff, 0xff, 0xff, 0xff};
  auto result = decode_request_body(static_cast<int16_t>(ApiKey::metadata), 0, null_topics);
  EXPECT_EQ(result.error(), DecodeError::unexpected_null);
  // ...but from v1 null means "all topics".
  auto v1 = decode_request_body(static_cast<int16_t>(ApiKey::metadata), 1, null_topics);
  ASSERT_TRUE(v1.ok());
  EXPECT_FALSE(std::get<MetadataRequest>(v1.value()).topics.has_value());
}

TEST(Wire, EncodingNullWhereTheVersionForbidsItIsAProgrammerError) {
  MetadataRequest request;
  request.topics = std::nullopt;  // "all topics", which v0 cannot say
  Bytes out;
  Writer writer(out);
  EXPECT_THROW(request.encode(writer, 0), AssertionFailure);
  Bytes fine;
  Writer fine_writer(fine);
  request.encode(fine_writer, 1);
  EXPECT_EQ(fine, (Bytes{0xff, 0xff, 0xff, 0xff}));
  // And a version the api does not have.
  EXPECT_THROW(request.encode(fine_writer, 14), AssertionFailure);
}

TEST(Wire, UnknownApiAndVersionFail) {
  const Bytes empty;
  EXPECT_EQ(decode_request_body(9999, 0, empty).error(), DecodeError::unknown_api_key);
  EXPECT_EQ(decode_request_body(0, 2, empty).error(), DecodeError::unsupported_version);
  EXPECT_EQ(decode_request_body(0, 13, empty).error(), DecodeError::unsupported_version);
}

// The bytes of `message` encoded at `version`.
template <typename Message>
Bytes encoded(const Message& message, int16_t version) {
  Bytes out;
  Writer writer(out);
  message.encode(writer, version);
  return out;
}

// `message` decoded from `bytes` at `version`; the decode must succeed.
template <typename Message>
Message decoded(const Bytes& bytes, int16_t version) {
  Message message;
  Reader reader(bytes);
  message.decode(reader, version);
  EXPECT_TRUE(reader.ok()) << decode_error_name(reader.error());
  return message;
}

// Fields added for Kafka 4.0/4.1 (docs/protocol.md) travel only from their version:
// one byte more on the wire for a bool, and an older version decodes the default.
TEST(Wire, FieldsAddedFor4xTravelOnlyFromTheirVersion) {
  DescribeClusterRequest request;
  request.include_fenced_brokers = true;
  const Bytes v1 = encoded(request, 1);
  const Bytes v2 = encoded(request, 2);
  EXPECT_EQ(v2.size(), v1.size() + 1);
  EXPECT_TRUE(decoded<DescribeClusterRequest>(v2, 2).include_fenced_brokers);
  EXPECT_FALSE(decoded<DescribeClusterRequest>(v1, 1).include_fenced_brokers);

  VoteRequest vote;
  vote.topics.emplace_back().partitions.emplace_back().pre_vote = true;
  EXPECT_EQ(encoded(vote, 2).size(), encoded(vote, 1).size() + 1);
  EXPECT_TRUE(decoded<VoteRequest>(encoded(vote, 2), 2).topics.at(0).partitions.at(0).pre_vote);
}

TEST(Wire, TrailingBytesFail) {
  const Bytes heartbeat_v0 = {0, 1, 'g', 0, 0, 0, 1, 0, 1, 'm', 0xee};
  EXPECT_EQ(decode_request_body(static_cast<int16_t>(ApiKey::heartbeat), 0, heartbeat_v0).error(),
            DecodeError::trailing_bytes);
}

TEST(Wire, TaggedFieldsMustAscend) {
  // ApiVersions v3 request: client_software_name "a", version "b", then two
  // unknown tags in descending order.
  const Bytes descending = {2, 'a', 2, 'b', 2, 7, 1, 0, 5, 1, 0};
  auto result = decode_request_body(static_cast<int16_t>(ApiKey::api_versions), 3, descending);
  EXPECT_EQ(result.error(), DecodeError::invalid_tagged_fields);

  const Bytes ascending = {2, 'a', 2, 'b', 2, 5, 1, 0, 7, 1, 0};
  auto ok = decode_request_body(static_cast<int16_t>(ApiKey::api_versions), 3, ascending);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(std::get<ApiVersionsRequest>(ok.value()).unknown_tagged_fields.size(), 2u);
}

TEST(Header, VersionsFollowFlexibility) {
  const auto produce = static_cast<int16_t>(ApiKey::produce);
  const auto api_versions = static_cast<int16_t>(ApiKey::api_versions);
  EXPECT_EQ(request_header_version(produce, 8), 1);
  EXPECT_EQ(request_header_version(produce, 9), 2);
  EXPECT_EQ(response_header_version(produce, 8), 0);
  EXPECT_EQ(response_header_version(produce, 9), 1);
  // ApiVersions: flexible request header from v3, but its response header stays v0.
  EXPECT_EQ(request_header_version(api_versions, 3), 2);
  EXPECT_EQ(response_header_version(api_versions, 3), 0);
  EXPECT_EQ(response_header_version(api_versions, 4), 0);
  // SaslHandshake is never flexible.
  EXPECT_EQ(request_header_version(static_cast<int16_t>(ApiKey::sasl_handshake), 1), 1);
}

TEST(Header, ClientIdIsClassicEvenInHeaderV2) {
  RequestHeader header{.api_key = 18, .api_version = 3, .correlation_id = 7,
                       .client_id = "ab", .unknown_tagged_fields = {}};
  Bytes out;
  Writer writer(out);
  encode_request_header(header, 2, writer);
  EXPECT_EQ(out, (Bytes{0, 18, 0, 3, 0, 0, 0, 7, 0, 2, 'a', 'b', 0}));
}

TEST(Header, V0HasNoClientId) {
  RequestHeader header{.api_key = 7, .api_version = 0, .correlation_id = 9,
                       .client_id = std::nullopt, .unknown_tagged_fields = {}};
  Bytes out;
  Writer writer(out);
  encode_request_header(header, 0, writer);
  EXPECT_EQ(out, (Bytes{0, 7, 0, 0, 0, 0, 0, 9}));
  Reader reader(out);
  RequestHeader decoded;
  decode_request_header(reader, 0, decoded);
  EXPECT_TRUE(reader.ok());
  EXPECT_TRUE(reader.at_end());
  EXPECT_EQ(decoded, header);
}

TEST(Header, ApiVersionsResponseFrameUsesHeaderV0) {
  ApiVersionsResponse response;
  response.api_keys.push_back({.api_key = 0, .min_version = 0, .max_version = 12,
                               .unknown_tagged_fields = {}});
  Bytes frame;
  encode_response(42, 3, ResponseBody(response), frame);
  // correlation id, then straight into the body: error_code, no header tag byte.
  ASSERT_GE(frame.size(), 6u);
  EXPECT_EQ(frame[3], 42);
  EXPECT_EQ(frame[4], 0);
  EXPECT_EQ(frame[5], 0);
  EXPECT_EQ(frame[6], 2);  // compact array of one element
  ResponseHeader header;
  auto decoded = decode_response(18, 3, frame, header);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(std::get<ApiVersionsResponse>(decoded.value()), response);
}

TEST(Header, UnsupportedVersionStillYieldsTheHeader) {
  // Produce v2 (refused since 4.0): the broker must still read the correlation id to
  // answer UNSUPPORTED_VERSION.
  const Bytes frame = {0, 0, 0, 2, 0, 0, 0, 5, 0, 1, 'c', 0xff, 0xff};
  auto request = decode_request(frame);
  EXPECT_EQ(request.error(), DecodeError::unsupported_version);
  size_t body_offset = 0;
  auto header = decode_request_header(frame, body_offset);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->correlation_id, 5);
  EXPECT_EQ(header->client_id, "c");
  EXPECT_EQ(body_offset, 11u);
  const auto key_and_version = peek_api_key_and_version(frame);
  ASSERT_TRUE(key_and_version.has_value());
  EXPECT_EQ(key_and_version->api_version, 2);
  EXPECT_FALSE(peek_api_key_and_version(std::span(frame).first(3)).has_value());
}

TEST(Errors, TableHasKafkaNames) {
  EXPECT_EQ(error_name(ErrorCode::none), "NONE");
  EXPECT_EQ(error_name(ErrorCode::not_leader_or_follower), "NOT_LEADER_OR_FOLLOWER");
  EXPECT_EQ(error_name(int16_t{-1}), "UNKNOWN_SERVER_ERROR");
  EXPECT_EQ(error_value(ErrorCode::unsupported_version), 35);
  EXPECT_EQ(error_name(int16_t{30000}), "UNKNOWN_ERROR_CODE");
  EXPECT_GT(error_table().size(), 120u);
}

TEST(Apis, TableCoversTheIssue) {
  EXPECT_EQ(supported_apis().size(), 56u);
  const ApiInfo* describe_partitions = find_api(75);  // DescribeTopicPartitions (KIP-966)
  ASSERT_NE(describe_partitions, nullptr);
  EXPECT_EQ(describe_partitions->version_max, 0);
  const ApiInfo* produce = find_api(0);
  ASSERT_NE(produce, nullptr);
  EXPECT_EQ(produce->version_min, 3);
  EXPECT_EQ(produce->version_max, 12);
  const ApiInfo* fetch = find_api(1);
  ASSERT_NE(fetch, nullptr);
  EXPECT_EQ(fetch->version_min, 4);
  EXPECT_EQ(fetch->version_max, 18);
  EXPECT_EQ(find_api(34), nullptr);  // AlterReplicaLogDirs: not served
  // librdkafka needs Produce v2 listed to compress with gzip, snappy or lz4.
  EXPECT_EQ(produce->advertised_version_min, 0);
  EXPECT_EQ(fetch->advertised_version_min, fetch->version_min);
}

}  // namespace
}  // namespace weir::protocol
