#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <string_view>

#include "record/crc32c.h"

namespace weir::record {
namespace {

std::span<const uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

TEST(Crc32c, KnownVectors) {
  // RFC 3720 appendix B.4 and the usual check value.
  EXPECT_EQ(crc32c(as_bytes("123456789")), 0xe3069283u);
  EXPECT_EQ(crc32c(as_bytes("")), 0u);
  const std::vector<uint8_t> zeros(32, 0);
  EXPECT_EQ(crc32c(zeros), 0x8a9136aau);
  const std::vector<uint8_t> ones(32, 0xff);
  EXPECT_EQ(crc32c(ones), 0x62a8ab43u);
  std::vector<uint8_t> ascending(32);
  for (size_t i = 0; i < ascending.size(); i++) ascending[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(crc32c(ascending), 0x46dd794eu);
}

TEST(Crc32c, SoftwareAndHardwareAgreeAndExtend) {
  const bool passed = rc::check([](const std::vector<uint8_t>& data) {
    const auto split = *rc::gen::inRange<size_t>(0, data.size() + 1);
    const std::span<const uint8_t> all(data);
    const uint32_t whole = crc32c_software(all);
    RC_ASSERT(crc32c_software(all.subspan(split), crc32c_software(all.first(split))) == whole);
    if (crc32c_hardware_available()) {
      RC_ASSERT(crc32c_hardware(all) == whole);
      RC_ASSERT(crc32c_hardware(all.subspan(split), crc32c_hardware(all.first(split))) == whole);
    }
    RC_ASSERT(crc32c(all) == whole);
  });
  EXPECT_TRUE(passed);
}

}  // namespace
}  // namespace weir::record
