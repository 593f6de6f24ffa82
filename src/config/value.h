// Parsing and validating one config value the way Kafka's ConfigDef does: the text is
// trimmed first; numbers are decimal; booleans are true/false in any case; lists are
// comma-separated with blanks around commas dropped. Every error names the key and the
// value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "config/types.h"

namespace weir::config {

std::string_view trim(std::string_view text);

// The error "<key>: '<value>' <problem>".
ConfigError value_error(std::string_view key, std::string_view value, std::string_view problem);

// A decimal integer in [min, max] (both inclusive).
Result<int64_t, ConfigError> parse_int(std::string_view key, std::string_view text, int64_t min,
                                       int64_t max);
Result<double, ConfigError> parse_double(std::string_view key, std::string_view text, double min,
                                         double max);
Result<bool, ConfigError> parse_bool(std::string_view key, std::string_view text);
// An empty (or all-blank) text is the empty list.
std::vector<std::string> split_list(std::string_view text);
std::string join_list(const std::vector<std::string>& items);
// The trimmed text if it is one of `allowed` (case-sensitive, as Kafka's ValidString).
Result<std::string, ConfigError> parse_one_of(std::string_view key, std::string_view text,
                                              const std::vector<std::string_view>& allowed);

// Kafka's DOUBLE rendering is Java's Double.toString; weir prints the shortest text
// that reads back the same ("0.5").
std::string format_double(double value);

}  // namespace weir::config
