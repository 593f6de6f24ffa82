// Fuzzes the request decoder for every api and version, and the response decoder.
//
// Input: a request frame as the broker sees it (no size prefix). The header picks
// the api and version, so one corpus reaches every decoder; the golden captures in
// tests/data/golden seed it. Checks, beyond "no crash, no out-of-bounds read, no
// unbounded allocation" (ASan, UBSan and libFuzzer's -rss_limit_mb/-malloc_limit_mb):
//   - a decoded request re-encodes, and that encoding decodes to an equal request
//     (encode(decode(x)) need not equal x: non-canonical varints, bool bytes other
//     than 0/1 and default-valued tagged fields all normalise);
//   - the same bytes after the first four, read as a response body of that api and
//     version, decode or fail cleanly, and round-trip the same way.
#include <cstddef>
#include <cstdint>
#include <span>

#include "protocol/header.h"

namespace {

using weir::protocol::Bytes;

void check_request(std::span<const uint8_t> frame) {
  auto request = weir::protocol::decode_request(frame);
  if (!request) return;
  Bytes encoded;
  weir::protocol::encode_request(request->header, request->body, encoded);
  auto again = weir::protocol::decode_request(encoded);
  VERIFY(again.ok(), "a re-encoded request fails to decode: {}",
         weir::protocol::decode_error_name(again.error()));
  VERIFY(again->header == request->header, "request header changed in a round trip");
  VERIFY(again->body == request->body, "request body changed in a round trip");
}

void check_response(std::span<const uint8_t> frame) {
  const auto key_and_version = weir::protocol::peek_api_key_and_version(frame);
  if (!key_and_version) return;
  const auto [api_key, version] = *key_and_version;
  auto response = weir::protocol::decode_response_body(api_key, version, frame.subspan(4));
  if (!response) return;
  Bytes encoded;
  weir::protocol::Writer writer(encoded);
  weir::protocol::encode_body(response.value(), version, writer);
  auto again = weir::protocol::decode_response_body(api_key, version, encoded);
  VERIFY(again.ok(), "a re-encoded response fails to decode");
  VERIFY(again.value() == response.value(), "response changed in a round trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> frame(data, size);
  check_request(frame);
  check_response(frame);
  return 0;
}
