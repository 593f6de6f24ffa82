#include "config/value.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace weir::config {

std::string_view config_type_name(ConfigType type) {
  switch (type) {
    case ConfigType::unknown: return "UNKNOWN";
    case ConfigType::boolean: return "BOOLEAN";
    case ConfigType::string: return "STRING";
    case ConfigType::int32: return "INT";
    case ConfigType::int16: return "SHORT";
    case ConfigType::int64: return "LONG";
    case ConfigType::float64: return "DOUBLE";
    case ConfigType::list: return "LIST";
    case ConfigType::class_name: return "CLASS";
    case ConfigType::password: return "PASSWORD";
  }
  UNREACHABLE("config type {}", static_cast<int>(type));
}

std::string_view config_source_name(ConfigSource source) {
  switch (source) {
    case ConfigSource::unknown: return "UNKNOWN";
    case ConfigSource::topic_config: return "TOPIC_CONFIG";
    case ConfigSource::dynamic_broker_config: return "DYNAMIC_BROKER_CONFIG";
    case ConfigSource::dynamic_default_broker_config: return "DYNAMIC_DEFAULT_BROKER_CONFIG";
    case ConfigSource::static_broker_config: return "STATIC_BROKER_CONFIG";
    case ConfigSource::default_config: return "DEFAULT_CONFIG";
  }
  UNREACHABLE("config source {}", static_cast<int>(source));
}

std::string_view trim(std::string_view text) {
  // Java's String.trim: every character up to and including ' ' is blank.
  while (!text.empty() && static_cast<unsigned char>(text.front()) <= ' ') text.remove_prefix(1);
  while (!text.empty() && static_cast<unsigned char>(text.back()) <= ' ') text.remove_suffix(1);
  return text;
}

ConfigError value_error(std::string_view key, std::string_view value, std::string_view problem) {
  return ConfigError{std::string(key), fmt::format("{}: '{}' {}", key, value, problem)};
}

Result<int64_t, ConfigError> parse_int(std::string_view key, std::string_view text, int64_t min,
                                       int64_t max) {
  VERIFY(min <= max, "{}: empty range [{}, {}]", key, min, max);
  const std::string_view trimmed = trim(text);
  std::string_view digits = trimmed;
  // Java's parseInt/parseLong accept one leading '+'; from_chars does not.
  if (digits.size() > 1 && digits.front() == '+' && digits[1] != '-') digits.remove_prefix(1);
  int64_t value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (error == std::errc::result_out_of_range) {
    return unexpected(value_error(key, text, fmt::format("is out of range [{}, {}]", min, max)));
  }
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size()) {
    return unexpected(value_error(key, text, "is not an integer"));
  }
  if (value < min) {
    return unexpected(value_error(key, text, fmt::format("must be at least {}", min)));
  }
  if (value > max) {
    return unexpected(value_error(key, text, fmt::format("must be at most {}", max)));
  }
  return value;
}

Result<double, ConfigError> parse_double(std::string_view key, std::string_view text, double min,
                                         double max) {
  const std::string_view trimmed = trim(text);
  double value = 0;
  const auto [end, error] = std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), value);
  if (trimmed.empty() || error != std::errc() || end != trimmed.data() + trimmed.size() ||
      !std::isfinite(value)) {
    return unexpected(value_error(key, text, "is not a number"));
  }
  if (value < min || value > max) {
    return unexpected(value_error(
        key, text,
        fmt::format("must be between {} and {}", format_double(min), format_double(max))));
  }
  return value;
}

Result<bool, ConfigError> parse_bool(std::string_view key, std::string_view text) {
  const std::string_view trimmed = trim(text);
  auto equals_ignoring_case = [&](std::string_view word) {
    if (trimmed.size() != word.size()) return false;
    for (size_t k = 0; k < word.size(); k++) {
      char c = trimmed[k];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != word[k]) return false;
    }
    return true;
  };
  if (equals_ignoring_case("true")) return true;
  if (equals_ignoring_case("false")) return false;
  return unexpected(value_error(key, text, "is not a boolean (true or false)"));
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  const std::string_view trimmed = trim(text);
  if (trimmed.empty()) return items;
  size_t start = 0;
  while (true) {
    const size_t comma = trimmed.find(',', start);
    const std::string_view item = comma == std::string_view::npos
                                      ? trimmed.substr(start)
                                      : trimmed.substr(start, comma - start);
    items.emplace_back(trim(item));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return items;
}

std::string join_list(const std::vector<std::string>& items) {
  return fmt::format("{}", fmt::join(items, ","));
}

Result<std::string, ConfigError> parse_one_of(std::string_view key, std::string_view text,
                                              const std::vector<std::string_view>& allowed) {
  VERIFY(!allowed.empty(), "{}: no allowed values", key);
  const std::string_view trimmed = trim(text);
  for (const std::string_view candidate : allowed) {
    if (candidate == trimmed) return std::string(trimmed);
  }
  return unexpected(
      value_error(key, text, fmt::format("is not one of {}", fmt::join(allowed, ", "))));
}

std::string format_double(double value) {
  VERIFY(std::isfinite(value), "only finite doubles are config values");
  return fmt::format("{}", value);
}

}  // namespace weir::config
