#include "protocol/uuid_text.h"

#include "base/assert.h"

namespace weir::protocol {

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr size_t kTextSize = 22;  // 128 bits in 6-bit characters, unpadded

}  // namespace

std::string uuid_to_string(const Uuid& uuid) {
  std::string out;
  out.reserve(kTextSize);
  uint32_t buffer = 0;
  int bits = 0;
  for (uint8_t byte : uuid.bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buffer >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 0x3f]);
  VERIFY(out.size() == kTextSize, "a Uuid is {} base64 characters, got {}", kTextSize, out.size());
  return out;
}

std::optional<Uuid> uuid_from_string(std::string_view text) {
  if (text.size() != kTextSize) return std::nullopt;
  Uuid id;
  uint32_t buffer = 0;
  int bits = 0;
  size_t out = 0;
  for (char c : text) {
    const size_t value = kAlphabet.find(c);
    if (value == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (out < id.bytes.size()) id.bytes[out++] = static_cast<uint8_t>(buffer >> bits);
    }
  }
  if (out != id.bytes.size()) return std::nullopt;
  return id;
}

}  // namespace weir::protocol
