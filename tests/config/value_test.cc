// value.h: one value parsed as Kafka's ConfigDef parses it.
#include "config/value.h"

#include <limits>

#include <gtest/gtest.h>

namespace weir::config {
namespace {

constexpr int64_t int64_min = std::numeric_limits<int64_t>::min();
constexpr int64_t int64_max = std::numeric_limits<int64_t>::max();

TEST(Value, Integers) {
  EXPECT_EQ(parse_int("k", " 42\t", 0, 100).value(), 42);
  EXPECT_EQ(parse_int("k", "+7", 0, 100).value(), 7);  // Java's parseInt accepts '+'
  EXPECT_EQ(parse_int("k", "-9223372036854775808", int64_min, int64_max).value(), int64_min);
  for (const char* bad : {"", " ", "+", "-", "+-5", "++5", "--5", "5x", "0x10", "1e3", "1 2"}) {
    auto parsed = parse_int("k", bad, int64_min, int64_max);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().key, "k");
    EXPECT_EQ(parsed.error().message, fmt::format("k: '{}' is not an integer", bad));
  }
  EXPECT_EQ(parse_int("k", "9223372036854775808", 0, 10).error().message,
            "k: '9223372036854775808' is out of range [0, 10]");
  EXPECT_EQ(parse_int("k", "11", 0, 10).error().message, "k: '11' must be at most 10");
  EXPECT_EQ(parse_int("k", "-1", 0, 10).error().message, "k: '-1' must be at least 0");
}

TEST(Value, Doubles) {
  EXPECT_EQ(parse_double("r", " 0.25 ", 0, 1).value(), 0.25);
  EXPECT_EQ(parse_double("r", "1", 0, 1).value(), 1.0);
  for (const char* bad : {"", "x", "0.5.5", "inf", "nan"}) {
    EXPECT_EQ(parse_double("r", bad, 0, 1).error().message,
              fmt::format("r: '{}' is not a number", bad));
  }
  EXPECT_EQ(parse_double("r", "-0.1", 0, 1).error().message, "r: '-0.1' must be between 0 and 1");
  EXPECT_EQ(format_double(0.5), "0.5");
  EXPECT_EQ(format_double(1), "1");
}

TEST(Value, Booleans) {
  EXPECT_TRUE(parse_bool("b", "true").value());
  EXPECT_TRUE(parse_bool("b", " TRUE ").value());
  EXPECT_FALSE(parse_bool("b", "False").value());
  for (const char* bad : {"", "1", "yes", "truee"}) {
    EXPECT_EQ(parse_bool("b", bad).error().message,
              fmt::format("b: '{}' is not a boolean (true or false)", bad));
  }
}

TEST(Value, Lists) {
  EXPECT_TRUE(split_list("").empty());
  EXPECT_TRUE(split_list("  ").empty());
  EXPECT_EQ(split_list(" a , b,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(split_list("a,,b"), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(join_list({"a", "b"}), "a,b");
  EXPECT_EQ(join_list({}), "");
}

TEST(Value, OneOf) {
  EXPECT_EQ(parse_one_of("t", " lz4 ", {"gzip", "lz4"}).value(), "lz4");
  EXPECT_EQ(parse_one_of("t", "LZ4", {"gzip", "lz4"}).error().message,
            "t: 'LZ4' is not one of gzip, lz4");
}

TEST(Value, Names) {
  EXPECT_EQ(config_type_name(ConfigType::int32), "INT");
  EXPECT_EQ(config_type_name(ConfigType::float64), "DOUBLE");
  EXPECT_EQ(config_source_name(ConfigSource::static_broker_config), "STATIC_BROKER_CONFIG");
  EXPECT_EQ(static_cast<int>(ConfigType::password), 9);
  EXPECT_EQ(static_cast<int>(ConfigSource::default_config), 5);
}

}  // namespace
}  // namespace weir::config
