#include "protocol/header.h"

#include "base/assert.h"

namespace weir::protocol {
namespace {

constexpr int16_t kApiVersionsKey = static_cast<int16_t>(ApiKey::api_versions);

}  // namespace

int16_t request_header_version(int16_t api_key, int16_t api_version) {
  const ApiInfo* api = find_api(api_key);
  if (api == nullptr) return 1;
  return api_version >= api->flexible_version_min ? 2 : 1;
}

int16_t response_header_version(int16_t api_key, int16_t api_version) {
  if (api_key == kApiVersionsKey) return 0;
  const ApiInfo* api = find_api(api_key);
  if (api == nullptr) return 0;
  return api_version >= api->flexible_version_min ? 1 : 0;
}

void encode_request_header(const RequestHeader& header, int16_t header_version,
                           Writer& writer) {
  VERIFY(header_version >= 0 && header_version <= 2, "request header v{}", header_version);
  writer.write_int16(header.api_key);
  writer.write_int16(header.api_version);
  writer.write_int32(header.correlation_id);
  if (header_version >= 1) writer.write_nullable_string(header.client_id, false);
  if (header_version >= 2) {
    TaggedFieldsWriter tagged;
    tagged.add_unknown(header.unknown_tagged_fields);
    tagged.write(writer);
  }
}

void decode_request_header(Reader& reader, int16_t header_version, RequestHeader& header) {
  VERIFY(header_version >= 0 && header_version <= 2, "request header v{}", header_version);
  header.api_key = reader.read_int16();
  header.api_version = reader.read_int16();
  header.correlation_id = reader.read_int32();
  if (header_version >= 1) header.client_id = reader.read_nullable_string(false);
  if (header_version >= 2) {
    TaggedFieldsReader tagged(reader);
    uint32_t tag = 0;
    std::span<const uint8_t> data;
    while (tagged.next(tag, data)) {
      header.unknown_tagged_fields.push_back({tag, Bytes(data.begin(), data.end())});
    }
  }
}

void encode_response_header(const ResponseHeader& header, int16_t header_version,
                            Writer& writer) {
  VERIFY(header_version == 0 || header_version == 1, "response header v{}", header_version);
  writer.write_int32(header.correlation_id);
  if (header_version >= 1) {
    TaggedFieldsWriter tagged;
    tagged.add_unknown(header.unknown_tagged_fields);
    tagged.write(writer);
  }
}

void decode_response_header(Reader& reader, int16_t header_version, ResponseHeader& header) {
  VERIFY(header_version == 0 || header_version == 1, "response header v{}", header_version);
  header.correlation_id = reader.read_int32();
  if (header_version >= 1) {
    TaggedFieldsReader tagged(reader);
    uint32_t tag = 0;
    std::span<const uint8_t> data;
    while (tagged.next(tag, data)) {
      header.unknown_tagged_fields.push_back({tag, Bytes(data.begin(), data.end())});
    }
  }
}

std::optional<ApiKeyAndVersion> peek_api_key_and_version(std::span<const uint8_t> frame) {
  if (frame.size() < 4) return std::nullopt;
  Reader reader(frame);
  ApiKeyAndVersion result;
  result.api_key = reader.read_int16();
  result.api_version = reader.read_int16();
  VERIFY(reader.ok(), "four bytes were available");
  return result;
}

Result<RequestHeader> decode_request_header(std::span<const uint8_t> frame,
                                            size_t& body_offset) {
  const auto key_and_version = peek_api_key_and_version(frame);
  if (!key_and_version) return unexpected(DecodeError::truncated);
  Reader reader(frame);
  RequestHeader header;
  decode_request_header(
      reader, request_header_version(key_and_version->api_key, key_and_version->api_version),
      header);
  if (!reader.ok()) return unexpected(reader.error());
  body_offset = reader.position();
  return header;
}

Result<Request> decode_request(std::span<const uint8_t> frame) {
  size_t body_offset = 0;
  auto header = decode_request_header(frame, body_offset);
  if (!header) return unexpected(header.error());
  auto body = decode_request_body(header->api_key, header->api_version,
                                  frame.subspan(body_offset));
  if (!body) return unexpected(body.error());
  return Request{std::move(header.value()), std::move(body.value())};
}

void encode_request(const RequestHeader& header, const RequestBody& body, Bytes& out) {
  VERIFY(static_cast<int16_t>(api_key_of(body)) == header.api_key,
         "header says api {} but the body is api {}", header.api_key,
         static_cast<int16_t>(api_key_of(body)));
  Writer writer(out);
  encode_request_header(header, request_header_version(header.api_key, header.api_version),
                        writer);
  encode_body(body, header.api_version, writer);
}

void encode_response(int32_t correlation_id, int16_t api_version, const ResponseBody& body,
                     Bytes& out) {
  const auto api_key = static_cast<int16_t>(api_key_of(body));
  Writer writer(out);
  ResponseHeader header;
  header.correlation_id = correlation_id;
  encode_response_header(header, response_header_version(api_key, api_version), writer);
  encode_body(body, api_version, writer);
}

Result<ResponseBody> decode_response(int16_t api_key, int16_t api_version,
                                     std::span<const uint8_t> frame,
                                     ResponseHeader& header) {
  Reader reader(frame);
  decode_response_header(reader, response_header_version(api_key, api_version), header);
  if (!reader.ok()) return unexpected(reader.error());
  return decode_response_body(api_key, api_version, frame.subspan(reader.position()));
}

}  // namespace weir::protocol
