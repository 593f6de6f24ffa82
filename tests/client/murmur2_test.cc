// murmur2 must agree with Kafka's Java client (its own test vectors) and with
// librdkafka's murmur2 partitioner (checked on random keys), or keyed records would
// land in different partitions depending on which client wrote them.
#include "client/murmur2.h"

#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <rapidcheck/gtest.h>

namespace weir::client {
namespace {

std::span<const uint8_t> bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// org.apache.kafka.common.utils.UtilsTest#testMurmur2.
TEST(Murmur2, MatchesTheJavaClientsVectors) {
  EXPECT_EQ(murmur2(bytes("21")), -973932308);
  EXPECT_EQ(murmur2(bytes("foobar")), -790332482);
  EXPECT_EQ(murmur2(bytes("a-little-bit-long-string")), -985981536);
  EXPECT_EQ(murmur2(bytes("a-little-bit-longer-string")), -1486304829);
  EXPECT_EQ(murmur2(bytes("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8")), -58897971);
  EXPECT_EQ(murmur2(bytes("abc")), 479470107);
}

TEST(Murmur2, PartitionClearsTheSignBitRatherThanNegating) {
  // -973932308 & 0x7fffffff = 1173551340; abs() would give 973932308.
  EXPECT_EQ(murmur2_partition(bytes("21"), 1'000'000'007), 1173551340 % 1'000'000'007);
  EXPECT_EQ(murmur2_partition(bytes("21"), 7), 1173551340 % 7);
}

int32_t librdkafka_partition(std::span<const uint8_t> key, int32_t partitions) {
  return rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(), partitions, nullptr,
                                          nullptr);
}

RC_GTEST_PROP(Murmur2, AgreesWithLibrdkafka, (const std::vector<uint8_t>& key)) {
  const int32_t partitions = *rc::gen::inRange<int32_t>(1, 1000);
  RC_ASSERT(murmur2_partition(key, partitions) == librdkafka_partition(key, partitions));
}

TEST(Murmur2, AgreesWithLibrdkafkaOnEveryTailLength) {
  std::vector<uint8_t> key;
  for (int length = 0; length < 40; length++) {
    EXPECT_EQ(murmur2_partition(key, 997), librdkafka_partition(key, 997)) << length;
    key.push_back(static_cast<uint8_t>(length * 37 + 11));
  }
}

}  // namespace
}  // namespace weir::client
