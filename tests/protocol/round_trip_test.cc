// Round-trip properties for every api, every version weir serves, requests and
// responses: decode(encode(m)) == m, and encode(decode(bytes)) == bytes for the
// bytes our encoder wrote. Also: every strict prefix of a valid encoding fails to
// decode with an error, never a crash.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "arbitrary.h"
#include "protocol/header.h"

namespace weir::protocol {
namespace {

template <typename Body, typename Arbitrary, typename Decode>
void check_all_versions(Arbitrary arbitrary, Decode decode) {
  for (const ApiInfo& api : supported_apis()) {
    for (int16_t version = api.version_min; version <= api.version_max; version++) {
      const auto key = static_cast<int16_t>(api.key);
      const bool passed = rc::check(
          fmt::format("{} v{}", api.name, version), [&] {
            const Body body = *arbitrary(key, version);
            Bytes bytes;
            Writer writer(bytes);
            encode_body(body, version, writer);

            auto decoded = decode(key, version, bytes);
            RC_ASSERT(decoded.ok());
            RC_ASSERT(decoded.value() == body);

            Bytes again;
            Writer again_writer(again);
            encode_body(decoded.value(), version, again_writer);
            RC_ASSERT(again == bytes);

            // A strict prefix can never be a whole message: the decoder reads the
            // same bytes in the same order and runs out.
            if (!bytes.empty()) {
              const size_t cut = *rc::gen::inRange<size_t>(0, bytes.size());
              auto truncated = decode(key, version, std::span(bytes).first(cut));
              RC_ASSERT(!truncated.ok());
            }
          });
      EXPECT_TRUE(passed) << api.name << " v" << version;
    }
  }
}

TEST(RoundTrip, EveryRequestVersion) {
  check_all_versions<RequestBody>(testing::arbitrary_request, decode_request_body);
}

TEST(RoundTrip, EveryResponseVersion) {
  check_all_versions<ResponseBody>(testing::arbitrary_response, decode_response_body);
}

TEST(RoundTrip, WholeRequestFrames) {
  const bool passed = rc::check("request frames", [] {
    const ApiInfo& api = *rc::gen::elementOf(supported_apis());
    const auto version = *rc::gen::inRange<int16_t>(api.version_min,
                                                    static_cast<int16_t>(api.version_max + 1));
    RequestHeader header;
    header.api_key = static_cast<int16_t>(api.key);
    header.api_version = version;
    header.correlation_id = *rc::gen::arbitrary<int32_t>();
    if (*rc::gen::arbitrary<bool>()) header.client_id = *rc::gen::arbitrary<std::string>();
    const RequestBody body = *testing::arbitrary_request(header.api_key, version);
    Bytes frame;
    encode_request(header, body, frame);
    auto decoded = decode_request(frame);
    RC_ASSERT(decoded.ok());
    RC_ASSERT(decoded->header == header);
    RC_ASSERT(decoded->body == body);
  });
  EXPECT_TRUE(passed);
}

TEST(RoundTrip, WholeResponseFrames) {
  const bool passed = rc::check("response frames", [] {
    const ApiInfo& api = *rc::gen::elementOf(supported_apis());
    const auto version = *rc::gen::inRange<int16_t>(api.version_min,
                                                    static_cast<int16_t>(api.version_max + 1));
    const auto key = static_cast<int16_t>(api.key);
    const ResponseBody body = *testing::arbitrary_response(key, version);
    const int32_t correlation_id = *rc::gen::arbitrary<int32_t>();
    Bytes frame;
    encode_response(correlation_id, version, body, frame);
    ResponseHeader header;
    auto decoded = decode_response(key, version, frame, header);
    RC_ASSERT(decoded.ok());
    RC_ASSERT(header.correlation_id == correlation_id);
    RC_ASSERT(decoded.value() == body);
  });
  EXPECT_TRUE(passed);
}

}  // namespace
}  // namespace weir::protocol
