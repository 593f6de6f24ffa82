#include "cli/args.h"

#include <gtest/gtest.h>

namespace weir::cli {
namespace {

constexpr OptionSpec kSpecs[] = {
    {"topic", true, false, "", "NAME"},
    {"config", true, true, "", "K=V"},
    {"from-beginning", false, false, "", ""},
};

std::optional<std::string> parse(std::vector<std::string_view> args, ParsedOptions& out) {
  return parse_options(args, kSpecs, out);
}

TEST(Args, ValuesFlagsAndPositionals) {
  ParsedOptions options;
  ASSERT_EQ(parse({"create", "--topic", "t", "--config=a=1", "--config", "b=2", "--from-beginning"},
                  options),
            std::nullopt);
  EXPECT_EQ(options.get("topic"), "t");
  EXPECT_EQ(options.all("config"), (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_TRUE(options.has("from-beginning"));
  EXPECT_EQ(options.positional(), std::vector<std::string>{"create"});
}

TEST(Args, ErrorsNameTheArgument) {
  ParsedOptions a, b, c, d;
  EXPECT_EQ(parse({"--nope"}, a), "unknown option --nope");
  EXPECT_EQ(parse({"--topic"}, b), "option --topic needs a value");
  EXPECT_EQ(parse({"--topic", "x", "--topic", "y"}, c), "option --topic given more than once");
  EXPECT_EQ(parse({"--from-beginning=yes"}, d), "option --from-beginning takes no value");
}

TEST(Args, IntegersAreCheckedAgainstTheirRange) {
  constexpr OptionSpec specs[] = {{"partitions", true, false, "", "N"}};
  for (std::string_view bad : {"0", "x", "3x", "99999999999999999999"}) {
    ParsedOptions options;
    std::vector<std::string_view> args = {"--partitions", bad};
    ASSERT_EQ(parse_options(args, specs, options), std::nullopt);
    std::string error;
    EXPECT_EQ(options.get_integer("partitions", 1, 100, error), std::nullopt);
    EXPECT_NE(error.find("--partitions"), std::string::npos) << error;
  }
  ParsedOptions options;
  std::vector<std::string_view> args = {"--partitions", "12"};
  ASSERT_EQ(parse_options(args, specs, options), std::nullopt);
  std::string error;
  EXPECT_EQ(options.get_integer("partitions", 1, 100, error), 12);
  EXPECT_TRUE(error.empty());
}

TEST(Args, KeyValue) {
  EXPECT_EQ(split_key_value("a=b=c"), std::make_pair(std::string("a"), std::string("b=c")));
  EXPECT_EQ(split_key_value("a="), std::make_pair(std::string("a"), std::string("")));
  EXPECT_EQ(split_key_value("=b"), std::nullopt);
  EXPECT_EQ(split_key_value("ab"), std::nullopt);
}

}  // namespace
}  // namespace weir::cli
