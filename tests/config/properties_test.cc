// Properties: Java's .properties grammar, its errors, and the store/load round trip.
#include "config/properties.h"

#include <rapidcheck.h>

#include <gtest/gtest.h>

namespace weir::config {
namespace {

absl::btree_map<std::string, std::string> values_of(std::string_view text) {
  auto parsed = Properties::parse(text);
  EXPECT_TRUE(parsed.ok()) << parsed.error().to_string();
  return parsed.ok() ? parsed->values() : absl::btree_map<std::string, std::string>{};
}

PropertiesError error_of(std::string_view text) {
  auto parsed = Properties::parse(text);
  EXPECT_FALSE(parsed.ok());
  return parsed.ok() ? PropertiesError{} : parsed.error();
}

TEST(Properties, SeparatorsAndBlanks) {
  const auto values = values_of(
      "a=1\n"
      "b:2\n"
      "c 3\n"
      "  d  =  4\n"
      "e\t:\t5\n"
      "f = = 6\n"
      "g\n"
      "h=\n");
  EXPECT_EQ(values.at("a"), "1");
  EXPECT_EQ(values.at("b"), "2");
  EXPECT_EQ(values.at("c"), "3");
  EXPECT_EQ(values.at("d"), "4");
  EXPECT_EQ(values.at("e"), "5");
  EXPECT_EQ(values.at("f"), "= 6");  // only one separator is consumed
  EXPECT_EQ(values.at("g"), "");
  EXPECT_EQ(values.at("h"), "");
  EXPECT_EQ(values.size(), 8U);
}

TEST(Properties, TrailingBlanksOfAValueAreKept) { EXPECT_EQ(values_of("k=v  \n").at("k"), "v  "); }

TEST(Properties, CommentsAndBlankLines) {
  const auto values = values_of(
      "# a comment\n"
      "! another\n"
      "   # indented comment\n"
      "\n"
      "   \n"
      "# comment ending in a backslash does not continue \\\n"
      "k=v # not a comment inside a value\n");
  ASSERT_EQ(values.size(), 1U);
  EXPECT_EQ(values.at("k"), "v # not a comment inside a value");
}

TEST(Properties, LineContinuation) {
  const auto values = values_of(
      "list=a,\\\n"
      "     b,\\\n"
      "\t\tc\n"
      "even=x\\\\\n"
      "next=y\n"
      "hash=1\\\n"
      "# still the value\n");
  EXPECT_EQ(values.at("list"), "a,b,c");
  EXPECT_EQ(values.at("even"), "x\\");
  EXPECT_EQ(values.at("next"), "y");
  EXPECT_EQ(values.at("hash"), "1# still the value");
}

TEST(Properties, ContinuationAtEndOfText) { EXPECT_EQ(values_of("k=v\\").at("k"), "v"); }

TEST(Properties, LineTerminators) {
  const auto values = values_of("a=1\r\nb=2\rc=3\n");
  EXPECT_EQ(values.at("a"), "1");
  EXPECT_EQ(values.at("b"), "2");
  EXPECT_EQ(values.at("c"), "3");
}

TEST(Properties, Escapes) {
  const auto values = values_of(
      "tab=a\\tb\n"
      "newline=a\\nb\n"
      "cr=a\\rb\n"
      "ff=a\\fb\n"
      "backslash=a\\\\b\n"
      "unicode=\\u0041\\u00e9\\u20AC\n"
      "pair=\\uD83D\\uDE00\n"
      "other=\\q\\=\\:\n"
      "key\\ with\\ spaces=1\n"
      "key\\=with\\:separators=2\n"
      "\\#hash=3\n");
  EXPECT_EQ(values.at("tab"), "a\tb");
  EXPECT_EQ(values.at("newline"), "a\nb");
  EXPECT_EQ(values.at("cr"), "a\rb");
  EXPECT_EQ(values.at("ff"), "a\fb");
  EXPECT_EQ(values.at("backslash"), "a\\b");
  EXPECT_EQ(values.at("unicode"), "A\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(values.at("pair"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(values.at("other"), "q=:");
  EXPECT_EQ(values.at("key with spaces"), "1");
  EXPECT_EQ(values.at("key=with:separators"), "2");
  EXPECT_EQ(values.at("#hash"), "3");
}

TEST(Properties, DuplicatesAreKeptAndTheLastWins) {
  auto parsed = Properties::parse("a=1\nb=2\na=3\n\na=4\n");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->entries().size(), 4U);
  EXPECT_EQ(parsed->values().at("a"), "4");
  const auto overridden = parsed->overridden();
  ASSERT_EQ(overridden.size(), 2U);
  EXPECT_EQ(overridden[0].line, 1);
  EXPECT_EQ(overridden[0].value, "1");
  EXPECT_EQ(overridden[1].line, 3);
  EXPECT_EQ(overridden[1].value, "3");
}

TEST(Properties, EntriesCarryTheirStartLine) {
  auto parsed = Properties::parse("# c\n\na=1\\\n  2\nb=3\n");
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->entries().size(), 2U);
  EXPECT_EQ(parsed->entries()[0].line, 3);
  EXPECT_EQ(parsed->entries()[1].line, 5);
}

TEST(Properties, MalformedUnicodeEscapeNamesTheLine) {
  const PropertiesError error = error_of("a=1\n# c\nb=\\u00G1\n");
  EXPECT_EQ(error.line, 3);
  EXPECT_EQ(error.to_string(), "line 3: malformed \\uXXXX escape");
  EXPECT_EQ(error_of("a=\\u12").line, 1);
}

TEST(Properties, MalformedEscapeInAKey) { EXPECT_EQ(error_of("x=1\nk\\uzzzz=2\n").line, 2); }

TEST(Properties, UnpairedSurrogatesAreErrors) {
  EXPECT_EQ(error_of("a=\\uD83D\n").message, "\\u escape is an unpaired high surrogate");
  EXPECT_EQ(error_of("a=\\uD83Dx\n").message, "\\u escape is an unpaired high surrogate");
  EXPECT_EQ(error_of("a=\\uDE00\n").message, "\\u escape is an unpaired low surrogate");
}

TEST(Properties, EmptyKeyIsAnError) {
  const PropertiesError error = error_of("a=1\n=value\n");
  EXPECT_EQ(error.line, 2);
  EXPECT_EQ(error.message, "empty key (value 'value')");
  EXPECT_EQ(error_of(":x").line, 1);
}

TEST(Properties, FormatEscapesLikeStore) {
  Properties properties;
  properties.add("a key", " lead and trail ");
  properties.add("k=:#!", "v=:#!\t\n\\");
  EXPECT_EQ(properties.format(),
            "a\\ key=\\ lead and trail \n"
            "k\\=\\:\\#\\!=v\\=\\:\\#\\!\\t\\n\\\\\n");
  EXPECT_EQ(escape_property_key("x y"), "x\\ y");
  EXPECT_EQ(escape_property_value("x y"), "x y");
}

TEST(Properties, FormatParseRoundTrip) {
  const bool passed = rc::check("parse(format(entries)) == entries", [] {
    const auto keys = *rc::gen::container<std::vector<std::string>>(
        rc::gen::nonEmpty(rc::gen::arbitrary<std::string>()));
    Properties written;
    for (const std::string& key : keys) written.add(key, *rc::gen::arbitrary<std::string>());
    auto read = Properties::parse(written.format());
    RC_ASSERT(read.ok());
    RC_ASSERT(read->entries().size() == written.entries().size());
    for (size_t k = 0; k < written.entries().size(); k++) {
      RC_ASSERT(read->entries()[k].key == written.entries()[k].key);
      RC_ASSERT(read->entries()[k].value == written.entries()[k].value);
      RC_ASSERT(read->entries()[k].line == static_cast<int32_t>(k + 1));
    }
  });
  EXPECT_TRUE(passed);
}

TEST(Properties, EscapedValueReadsBackAfterAnySeparator) {
  const bool passed = rc::check("k<sep>escape(v) parses to v", [] {
    const std::string value = *rc::gen::arbitrary<std::string>();
    const std::string separator = *rc::gen::element<std::string>("=", ":", " ", " = ", "\t:");
    auto read = Properties::parse("k" + separator + escape_property_value(value));
    RC_ASSERT(read.ok());
    RC_ASSERT(read->values().at("k") == value);
  });
  EXPECT_TRUE(passed);
}

}  // namespace
}  // namespace weir::config
