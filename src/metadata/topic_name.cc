#include "metadata/topic_name.h"

#include <algorithm>

#include <fmt/format.h>

namespace weir::metadata {

namespace {

bool is_topic_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

std::optional<std::string> invalid_topic_name_reason(std::string_view name) {
  if (name.empty()) return "Topic name is illegal, it can't be empty";
  if (name == "." || name == "..") return "Topic name cannot be \".\" or \"..\"";
  if (name.size() > kTopicNameLengthMax) {
    return fmt::format(
        "Topic name is illegal, it can't be longer than {} characters, topic name: {}",
        kTopicNameLengthMax, name);
  }
  if (!std::all_of(name.begin(), name.end(), is_topic_name_char)) {
    return fmt::format(
        "Topic name \"{}\" is illegal, it contains a character other than ASCII "
        "alphanumerics, '.', '_' and '-'",
        name);
  }
  if (name == kMetadataTopic) {
    return fmt::format("Creation of internal topic {} is prohibited.", kMetadataTopic);
  }
  return std::nullopt;
}

}  // namespace weir::metadata
