// Command-line options in the style of Kafka's tools: `--name value`, `--name=value`,
// repeatable options (`--config k=v --config k2=v2`) and flags (`--from-beginning`).
//
// Parsing is pure (no I/O) so tests can drive it. Every failure is a message that
// names the offending argument; the CLI prints it and exits with status 2.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <absl/container/btree_map.h>

namespace weir::cli {

struct OptionSpec {
  std::string_view name;  // without the leading dashes
  bool takes_value = true;
  bool repeatable = false;
  std::string_view help;
  std::string_view value_name = "VALUE";
};

class ParsedOptions {
 public:
  bool has(std::string_view name) const { return values_.contains(std::string(name)); }
  // The last value given, if any.
  std::optional<std::string> get(std::string_view name) const;
  std::vector<std::string> all(std::string_view name) const;
  // A whole number within [min, max]; an error message names the option.
  std::optional<int64_t> get_integer(std::string_view name, int64_t min, int64_t max,
                                     std::string& error) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend std::optional<std::string> parse_options(std::span<const std::string_view>,
                                                  std::span<const OptionSpec>, ParsedOptions&);
  absl::btree_map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// Parses `args` against `specs`. Returns an error message on an unknown option, a
// missing value or a repeated single-valued option.
std::optional<std::string> parse_options(std::span<const std::string_view> args,
                                         std::span<const OptionSpec> specs, ParsedOptions& out);

// Splits "key=value" (the first '='); nullopt when there is none or the key is empty.
std::optional<std::pair<std::string, std::string>> split_key_value(std::string_view text);

// "Usage" text: one line per option.
std::string format_options_help(std::span<const OptionSpec> specs);

}  // namespace weir::cli
