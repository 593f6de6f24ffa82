#include "group/coordinator_key.h"

#include "base/assert.h"

namespace weir::group {

namespace {

constexpr uint32_t kReplacement = 0xFFFD;

// The code point starting at `utf8[position]`, advancing `position` past it; a
// malformed sequence yields U+FFFD and advances one byte.
uint32_t next_code_point(std::string_view utf8, size_t& position) {
  const auto byte = [&](size_t at) { return static_cast<uint8_t>(utf8[at]); };
  const uint8_t first = byte(position);
  if (first < 0x80) {
    position++;
    return first;
  }
  size_t length = 0;
  uint32_t code_point = 0;
  uint32_t minimum = 0;
  if ((first & 0xE0) == 0xC0) {
    length = 2;
    code_point = first & 0x1F;
    minimum = 0x80;
  } else if ((first & 0xF0) == 0xE0) {
    length = 3;
    code_point = first & 0x0F;
    minimum = 0x800;
  } else if ((first & 0xF8) == 0xF0) {
    length = 4;
    code_point = first & 0x07;
    minimum = 0x10000;
  } else {
    position++;
    return kReplacement;
  }
  if (position + length > utf8.size()) {
    position++;
    return kReplacement;
  }
  for (size_t i = 1; i < length; i++) {
    const uint8_t continuation = byte(position + i);
    if ((continuation & 0xC0) != 0x80) {
      position++;
      return kReplacement;
    }
    code_point = (code_point << 6) | (continuation & 0x3F);
  }
  const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
  if (code_point < minimum || code_point > 0x10FFFF || surrogate) {
    position++;
    return kReplacement;
  }
  position += length;
  return code_point;
}

}  // namespace

int32_t java_string_hash_code(std::string_view utf8) {
  uint32_t hash = 0;  // unsigned: Java's int arithmetic wraps
  size_t position = 0;
  while (position < utf8.size()) {
    const size_t before = position;
    const uint32_t code_point = next_code_point(utf8, position);
    VERIFY(position > before, "the decoder advances");
    if (code_point < 0x10000) {
      hash = hash * 31 + code_point;
    } else {
      // A supplementary character is two UTF-16 code units: a surrogate pair.
      const uint32_t offset = code_point - 0x10000;
      hash = hash * 31 + (0xD800 + (offset >> 10));
      hash = hash * 31 + (0xDC00 + (offset & 0x3FF));
    }
  }
  return static_cast<int32_t>(hash);
}

int32_t partition_for_group(std::string_view group_id, int32_t partition_count) {
  VERIFY(partition_count > 0, "__consumer_offsets has {} partitions", partition_count);
  const int32_t partition = kafka_abs(java_string_hash_code(group_id)) % partition_count;
  VERIFY(partition >= 0 && partition < partition_count);
  return partition;
}

}  // namespace weir::group
