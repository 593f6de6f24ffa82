// Java .properties text (java.util.Properties#load), the format of Kafka's
// server.properties, and its inverse (Properties#store's escaping).
//
// Parsing keeps every entry in file order with its line number, so duplicates stay
// reportable; `values()` gives the map a Java program sees (the last one wins).
// Bytes outside ASCII pass through unchanged: files are read as UTF-8, where Java 8's
// Properties#load(InputStream) would read ISO-8859-1 (only \uXXXX escapes are portable).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/btree_map.h>

#include "base/result.h"

namespace weir::config {

struct Property {
  std::string key;
  std::string value;
  int32_t line = 0;  // 1-based line where the entry's logical line starts
};

struct PropertiesError {
  int32_t line = 0;
  std::string message;
  std::string to_string() const;
};

class Properties {
 public:
  // Grammar (Java's): a logical line ends at a line terminator (\n, \r, \r\n) that
  // follows an even number of backslashes; an odd number continues it and the next
  // line's leading whitespace is dropped. Lines whose first non-blank character is
  // '#' or '!' are comments. The key runs to the first unescaped '=', ':' or blank;
  // then blanks, at most one '=' or ':', and blanks are skipped; the rest is the value
  // (trailing blanks kept, as Java does). Escapes: \t \n \r \f \uXXXX (UTF-16 surrogate
  // pairs combine), and a backslash before any other character stands for that character.
  // Errors: a malformed \u escape, an unpaired surrogate, an empty key.
  static Result<Properties, PropertiesError> parse(std::string_view text);

  void add(std::string key, std::string value, int32_t line = 0);

  // Every entry, in file order.
  const std::vector<Property>& entries() const { return entries_; }
  // Key -> value; when a key repeats, the last entry wins.
  absl::btree_map<std::string, std::string> values() const;
  // Entries that a later entry with the same key overrides, in file order.
  std::vector<Property> overridden() const;

  // Properties#store's text (without its date comment): one `key=value` line per
  // entry; parse(format()) gives back the same entries.
  std::string format() const;

 private:
  std::vector<Property> entries_;
};

// The escaped forms Properties#store writes: both escape '\\', '=', ':', '#', '!',
// tab, newline, carriage return and form feed; a key also escapes every space, a
// value only a leading one.
std::string escape_property_key(std::string_view key);
std::string escape_property_value(std::string_view value);

}  // namespace weir::config
