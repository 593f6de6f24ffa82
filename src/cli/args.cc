#include "cli/args.h"

#include <charconv>

#include <fmt/format.h>

namespace weir::cli {

std::optional<std::string> ParsedOptions::get(std::string_view name) const {
  auto found = values_.find(std::string(name));
  if (found == values_.end() || found->second.empty()) return std::nullopt;
  return found->second.back();
}

std::vector<std::string> ParsedOptions::all(std::string_view name) const {
  auto found = values_.find(std::string(name));
  if (found == values_.end()) return {};
  return found->second;
}

std::optional<int64_t> ParsedOptions::get_integer(std::string_view name, int64_t min, int64_t max,
                                                  std::string& error) const {
  auto text = get(name);
  if (!text) return std::nullopt;
  int64_t value = 0;
  auto [end, parse_error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (parse_error != std::errc{} || end != text->data() + text->size() || value < min ||
      value > max) {
    error = fmt::format("invalid value '{}' for --{} (a whole number from {} to {})", *text, name,
                        min, max);
    return std::nullopt;
  }
  return value;
}

std::optional<std::string> parse_options(std::span<const std::string_view> args,
                                         std::span<const OptionSpec> specs, ParsedOptions& out) {
  for (size_t i = 0; i < args.size(); i++) {
    std::string_view arg = args[i];
    if (arg.size() < 2 || arg.substr(0, 2) != "--") {
      out.positional_.emplace_back(arg);
      continue;
    }
    std::string_view name = arg.substr(2);
    std::optional<std::string_view> inline_value;
    if (const size_t equals = name.find('='); equals != std::string_view::npos) {
      inline_value = name.substr(equals + 1);
      name = name.substr(0, equals);
    }
    const OptionSpec* spec = nullptr;
    for (const OptionSpec& candidate : specs) {
      if (candidate.name == name) spec = &candidate;
    }
    if (spec == nullptr) return fmt::format("unknown option --{}", name);
    std::vector<std::string>& values = out.values_[std::string(name)];
    if (!values.empty() && !spec->repeatable) {
      return fmt::format("option --{} given more than once", name);
    }
    if (!spec->takes_value) {
      if (inline_value) return fmt::format("option --{} takes no value", name);
      values.emplace_back();
      continue;
    }
    if (inline_value) {
      values.emplace_back(*inline_value);
      continue;
    }
    if (i + 1 >= args.size()) return fmt::format("option --{} needs a value", name);
    values.emplace_back(args[++i]);
  }
  return std::nullopt;
}

std::optional<std::pair<std::string, std::string>> split_key_value(std::string_view text) {
  const size_t equals = text.find('=');
  if (equals == std::string_view::npos || equals == 0) return std::nullopt;
  return std::make_pair(std::string(text.substr(0, equals)), std::string(text.substr(equals + 1)));
}

std::string format_options_help(std::span<const OptionSpec> specs) {
  std::string text;
  for (const OptionSpec& spec : specs) {
    std::string left = fmt::format("  --{}", spec.name);
    if (spec.takes_value) left += fmt::format(" <{}>", spec.value_name);
    if (left.size() < 34)
      left.resize(34, ' ');
    else
      left += "  ";
    text += left + std::string(spec.help) + (spec.repeatable ? " (repeatable)" : "") + "\n";
  }
  return text;
}

}  // namespace weir::cli
