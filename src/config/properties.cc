#include "config/properties.h"

#include <fmt/format.h>

namespace weir::config {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\f'; }
bool is_line_end(char c) { return c == '\n' || c == '\r'; }

struct LogicalLine {
  std::string text;  // continuation joined, escapes still in place
  int32_t line = 0;
};

// Splits the text into logical lines, skipping blank and comment lines. Continuations
// keep their escaping: a joined line's trailing backslash is removed, every other
// backslash stays for the unescaping pass.
std::vector<LogicalLine> logical_lines(std::string_view text) {
  std::vector<LogicalLine> lines;
  size_t i = 0;
  int32_t line_number = 1;
  while (i < text.size()) {
    // Leading blanks of a natural line are never part of anything.
    while (i < text.size() && is_blank(text[i])) i++;
    const int32_t start_line = line_number;
    if (i < text.size() && is_line_end(text[i])) {
      if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') i++;
      i++;
      line_number++;
      continue;
    }
    if (i >= text.size()) break;
    const bool comment = text[i] == '#' || text[i] == '!';
    std::string logical;
    while (true) {
      size_t end = i;
      while (end < text.size() && !is_line_end(text[end])) end++;
      std::string_view natural = text.substr(i, end - i);
      i = end;
      if (i < text.size()) {
        if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') i++;
        i++;
        line_number++;
      }
      size_t backslashes = 0;
      while (backslashes < natural.size() && natural[natural.size() - 1 - backslashes] == '\\') {
        backslashes++;
      }
      // A comment never continues onto the next line, whatever it ends with.
      const bool continues = !comment && backslashes % 2 == 1;
      if (continues) natural.remove_suffix(1);
      logical.append(natural);
      if (!continues || i >= text.size()) break;
      while (i < text.size() && is_blank(text[i])) i++;
    }
    if (!comment) lines.push_back(LogicalLine{std::move(logical), start_line});
  }
  return lines;
}

void append_utf8(std::string& out, uint32_t code_point) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    VERIFY(code_point <= 0x10FFFF, "code point {:#x} out of range", code_point);
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

bool read_hex4(std::string_view text, size_t at, uint32_t& out) {
  if (at + 4 > text.size()) return false;
  out = 0;
  for (size_t k = at; k < at + 4; k++) {
    const char c = text[k];
    uint32_t digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return false;
    }
    out = out * 16 + digit;
  }
  return true;
}

// Reads one possibly escaped element (key or value) from `text` at `i`, stopping
// (for a key) at an unescaped separator or blank. Returns an error message or "".
std::string unescape(std::string_view text, size_t& i, bool is_key, std::string& out) {
  while (i < text.size()) {
    const char c = text[i];
    if (is_key && (c == '=' || c == ':' || is_blank(c))) return "";
    if (c != '\\') {
      out.push_back(c);
      i++;
      continue;
    }
    i++;
    if (i >= text.size()) return "";  // a lone trailing backslash stands for nothing
    const char escaped = text[i];
    i++;
    switch (escaped) {
      case 't': out.push_back('\t'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 'f': out.push_back('\f'); break;
      case 'u': {
        uint32_t unit = 0;
        if (!read_hex4(text, i, unit)) return "malformed \\uXXXX escape";
        i += 4;
        if (unit >= 0xDC00 && unit <= 0xDFFF) return "\\u escape is an unpaired low surrogate";
        if (unit >= 0xD800 && unit <= 0xDBFF) {
          uint32_t low = 0;
          if (i + 2 > text.size() || text[i] != '\\' || text[i + 1] != 'u' ||
              !read_hex4(text, i + 2, low) || low < 0xDC00 || low > 0xDFFF) {
            return "\\u escape is an unpaired high surrogate";
          }
          i += 6;
          unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
        }
        append_utf8(out, unit);
        break;
      }
      default: out.push_back(escaped); break;
    }
  }
  return "";
}

void escape_into(std::string& out, std::string_view text, bool is_key) {
  for (size_t k = 0; k < text.size(); k++) {
    const char c = text[k];
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\f': out += "\\f"; break;
      case '=':
      case ':':
      case '#':
      case '!':
        out.push_back('\\');
        out.push_back(c);
        break;
      case ' ':
        if (is_key || k == 0) out.push_back('\\');
        out.push_back(' ');
        break;
      default: out.push_back(c); break;
    }
  }
}

}  // namespace

std::string PropertiesError::to_string() const { return fmt::format("line {}: {}", line, message); }

Result<Properties, PropertiesError> Properties::parse(std::string_view text) {
  Properties properties;
  for (const LogicalLine& line : logical_lines(text)) {
    std::string_view rest = line.text;
    size_t i = 0;
    std::string key;
    std::string error = unescape(rest, i, /*is_key=*/true, key);
    if (!error.empty()) return unexpected(PropertiesError{line.line, error});
    while (i < rest.size() && is_blank(rest[i])) i++;
    if (i < rest.size() && (rest[i] == '=' || rest[i] == ':')) i++;
    while (i < rest.size() && is_blank(rest[i])) i++;
    std::string value;
    error = unescape(rest, i, /*is_key=*/false, value);
    if (!error.empty()) return unexpected(PropertiesError{line.line, error});
    VERIFY(i == rest.size(), "value must run to the end of the logical line");
    if (key.empty()) {
      return unexpected(PropertiesError{line.line, fmt::format("empty key (value '{}')", value)});
    }
    properties.add(std::move(key), std::move(value), line.line);
  }
  return properties;
}

void Properties::add(std::string key, std::string value, int32_t line) {
  VERIFY(line >= 0, "line numbers are 1-based (0 = not from a file)");
  entries_.push_back(Property{std::move(key), std::move(value), line});
}

absl::btree_map<std::string, std::string> Properties::values() const {
  absl::btree_map<std::string, std::string> map;
  for (const Property& entry : entries_) map[entry.key] = entry.value;
  return map;
}

std::vector<Property> Properties::overridden() const {
  absl::btree_map<std::string, size_t> last;
  for (size_t k = 0; k < entries_.size(); k++) last[entries_[k].key] = k;
  std::vector<Property> result;
  for (size_t k = 0; k < entries_.size(); k++) {
    if (last[entries_[k].key] != k) result.push_back(entries_[k]);
  }
  return result;
}

std::string Properties::format() const {
  std::string out;
  for (const Property& entry : entries_) {
    VERIFY(!entry.key.empty(), "an empty key cannot be written");
    escape_into(out, entry.key, /*is_key=*/true);
    out.push_back('=');
    escape_into(out, entry.value, /*is_key=*/false);
    out.push_back('\n');
  }
  return out;
}

std::string escape_property_key(std::string_view key) {
  std::string out;
  escape_into(out, key, /*is_key=*/true);
  return out;
}

std::string escape_property_value(std::string_view value) {
  std::string out;
  escape_into(out, value, /*is_key=*/false);
  return out;
}

}  // namespace weir::config
