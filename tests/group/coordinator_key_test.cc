// The partition that coordinates a group must be Kafka's: Java's String.hashCode over
// UTF-16 code units, Utils.abs, modulo the partition count.
#include "group/coordinator_key.h"

#include <cstdint>

#include <gtest/gtest.h>

namespace weir::group {
namespace {

TEST(CoordinatorKey, JavaStringHashCodeOfAscii) {
  EXPECT_EQ(java_string_hash_code(""), 0);
  EXPECT_EQ(java_string_hash_code("a"), 97);
  EXPECT_EQ(java_string_hash_code("app"), 96801);                     // 97*31^2 + 112*31 + 112
  EXPECT_EQ(java_string_hash_code("hello"), 99162322);                // "hello".hashCode()
  EXPECT_EQ(java_string_hash_code("polygenelubricants"), INT32_MIN);  // a famous one
}

TEST(CoordinatorKey, JavaStringHashCodeOverUtf16Units) {
  // "é" is one UTF-16 unit (0xE9); U+1F600 is the surrogate pair D83D DE00.
  EXPECT_EQ(java_string_hash_code("\xC3\xA9"), 0xE9);
  EXPECT_EQ(java_string_hash_code("\xF0\x9F\x98\x80"), 0xD83D * 31 + 0xDE00);
  // A lone continuation byte decodes as U+FFFD.
  EXPECT_EQ(java_string_hash_code("\x80"), 0xFFFD);
}

TEST(CoordinatorKey, KafkaAbsMapsMinToZero) {
  EXPECT_EQ(kafka_abs(INT32_MIN), 0);
  EXPECT_EQ(kafka_abs(-5), 5);
  EXPECT_EQ(kafka_abs(7), 7);
}

TEST(CoordinatorKey, PartitionForGroup) {
  EXPECT_EQ(partition_for_group("app", 50), 96801 % 50);
  EXPECT_EQ(partition_for_group("polygenelubricants", 50), 0);
  // A negative hash: Utils.abs, not a mask (-1 & 0x7fffffff would give 2147483647 % 50).
  const int32_t negative = java_string_hash_code("xxxxxxxxxx");
  if (negative < 0) {
    EXPECT_EQ(partition_for_group("xxxxxxxxxx", 50), (-negative) % 50);
  }
  for (int32_t count : {1, 3, 50}) {
    const int32_t partition = partition_for_group("some group", count);
    EXPECT_GE(partition, 0);
    EXPECT_LT(partition, count);
  }
}

}  // namespace
}  // namespace weir::group
