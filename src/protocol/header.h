// Request and response headers, and whole frames (header + body, without the
// 4-byte size prefix that the connection layer strips and adds).
//
// Header versions follow from the api and its version (KIP-482):
//   request header  v1: api_key, api_version, correlation_id, client_id (nullable
//                       string, always int16-prefixed, even in flexible versions)
//                   v2: v1 + tagged fields, used by every flexible request version
//                   v0: no client_id; only ControlledShutdown v0 ever used it, which
//                       4.x no longer serves, but decode_request_header accepts it
//   response header v0: correlation_id
//                   v1: v0 + tagged fields, for flexible response versions, except
//                       ApiVersions, whose response header is always v0 so that a
//                       client can parse the answer before it knows our versions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "protocol/messages/api.h"
#include "protocol/wire.h"

namespace weir::protocol {

struct RequestHeader {
  int16_t api_key = 0;
  int16_t api_version = 0;
  int32_t correlation_id = 0;
  std::optional<std::string> client_id;
  UnknownTaggedFields unknown_tagged_fields;
  bool operator==(const RequestHeader&) const = default;
};

struct ResponseHeader {
  int32_t correlation_id = 0;
  UnknownTaggedFields unknown_tagged_fields;
  bool operator==(const ResponseHeader&) const = default;
};

// The header version a request or response of (api, version) carries. For an api or
// version weir does not serve, the request header version is still derived from
// the api's flexible versions when the api is known (so that an unsupported version
// can be answered), and is 1 otherwise.
int16_t request_header_version(int16_t api_key, int16_t api_version);
int16_t response_header_version(int16_t api_key, int16_t api_version);

void encode_request_header(const RequestHeader& header, int16_t header_version, Writer& writer);
void decode_request_header(Reader& reader, int16_t header_version, RequestHeader& header);
void encode_response_header(const ResponseHeader& header, int16_t header_version,
                            Writer& writer);
void decode_response_header(Reader& reader, int16_t header_version, ResponseHeader& header);

struct Request {
  RequestHeader header;
  RequestBody body;
};

// Reads api_key and api_version from the first four bytes of a request frame
// without decoding it, as the broker does to pick a handler or answer
// UNSUPPORTED_VERSION; nullopt when the frame is shorter than that.
struct ApiKeyAndVersion {
  int16_t api_key;
  int16_t api_version;
};
std::optional<ApiKeyAndVersion> peek_api_key_and_version(std::span<const uint8_t> frame);

// Decodes a whole request frame: header (its version chosen by the api key and
// version it starts with), then the body, which must end exactly at the frame's end.
Result<Request> decode_request(std::span<const uint8_t> frame);

// Decodes just the header of a request frame; `body_offset` receives where the body
// starts. Lets the broker answer a request whose body it cannot decode.
Result<RequestHeader> decode_request_header(std::span<const uint8_t> frame,
                                            size_t& body_offset);

// Appends header + body. The header's api key must match the body's.
void encode_request(const RequestHeader& header, const RequestBody& body, Bytes& out);

// Appends the response frame for a request of (api_key, api_version).
void encode_response(int32_t correlation_id, int16_t api_version, const ResponseBody& body,
                     Bytes& out);

// Decodes a response frame; the caller knows (api_key, api_version) from its request.
Result<ResponseBody> decode_response(int16_t api_key, int16_t api_version,
                                     std::span<const uint8_t> frame,
                                     ResponseHeader& header);

}  // namespace weir::protocol
