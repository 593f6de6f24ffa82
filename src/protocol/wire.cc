#include "protocol/wire.h"

#include <algorithm>
#include <limits>

namespace weir::protocol {

std::string_view decode_error_name(DecodeError error) {
  switch (error) {
    case DecodeError::none: return "none";
    case DecodeError::truncated: return "truncated";
    case DecodeError::invalid_length: return "invalid_length";
    case DecodeError::invalid_varint: return "invalid_varint";
    case DecodeError::unexpected_null: return "unexpected_null";
    case DecodeError::invalid_tagged_fields: return "invalid_tagged_fields";
    case DecodeError::trailing_bytes: return "trailing_bytes";
    case DecodeError::unsupported_version: return "unsupported_version";
    case DecodeError::unknown_api_key: return "unknown_api_key";
  }
  return "unknown";
}

Uuid Reader::read_uuid() {
  Uuid uuid;
  auto raw = read_raw(uuid.bytes.size());
  if (!raw.empty()) std::copy(raw.begin(), raw.end(), uuid.bytes.begin());
  return uuid;
}

uint64_t Reader::read_uvarlong() {
  uint64_t value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    const uint8_t byte = read_big_endian<uint8_t>();
    if (!ok()) return 0;
    // The tenth byte may only carry the top bit of a 64-bit value.
    if (shift == 63 && byte > 1) {
      fail(DecodeError::invalid_varint);
      return 0;
    }
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return value;
  }
  fail(DecodeError::invalid_varint);
  return 0;
}

uint32_t Reader::read_uvarint() {
  uint32_t value = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    const uint8_t byte = read_big_endian<uint8_t>();
    if (!ok()) return 0;
    // The fifth byte may only carry the top four bits of a 32-bit value.
    if (shift == 28 && byte > 0x0f) {
      fail(DecodeError::invalid_varint);
      return 0;
    }
    value |= static_cast<uint32_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return value;
  }
  fail(DecodeError::invalid_varint);
  return 0;
}

int32_t Reader::read_varint() {
  const uint32_t raw = read_uvarint();
  return static_cast<int32_t>((raw >> 1) ^ (~(raw & 1) + 1));
}

int64_t Reader::read_varlong() {
  const uint64_t raw = read_uvarlong();
  return static_cast<int64_t>((raw >> 1) ^ (~(raw & 1) + 1));
}

int64_t Reader::read_string_length(bool flexible) {
  int64_t length;
  if (flexible) {
    length = static_cast<int64_t>(read_uvarint()) - 1;
  } else {
    length = read_int16();
  }
  if (!ok()) return 0;
  if (length < -1 || length > static_cast<int64_t>(remaining())) {
    fail(length < -1 ? DecodeError::invalid_length : DecodeError::truncated);
    return 0;
  }
  return length;
}

int64_t Reader::read_bytes_length(bool flexible) {
  int64_t length;
  if (flexible) {
    length = static_cast<int64_t>(read_uvarint()) - 1;
  } else {
    length = read_int32();
  }
  if (!ok()) return 0;
  if (length < -1 || length > static_cast<int64_t>(remaining())) {
    fail(length < -1 ? DecodeError::invalid_length : DecodeError::truncated);
    return 0;
  }
  return length;
}

std::span<const uint8_t> Reader::read_raw(size_t size) {
  if (!ok()) return {};
  if (remaining() < size) {
    fail(DecodeError::truncated);
    return {};
  }
  auto raw = data_.subspan(position_, size);
  position_ += size;
  return raw;
}

std::optional<std::string> Reader::read_nullable_string(bool flexible) {
  const int64_t length = read_string_length(flexible);
  if (!ok()) return std::string();
  if (length < 0) return std::nullopt;
  auto raw = read_raw(static_cast<size_t>(length));
  return std::string(reinterpret_cast<const char*>(raw.data()), raw.size());
}

std::string Reader::read_string(bool flexible) {
  auto value = read_nullable_string(flexible);
  if (!value) {
    fail(DecodeError::unexpected_null);
    return {};
  }
  return std::move(*value);
}

std::optional<Bytes> Reader::read_nullable_bytes(bool flexible) {
  const int64_t length = read_bytes_length(flexible);
  if (!ok()) return Bytes();
  if (length < 0) return std::nullopt;
  auto raw = read_raw(static_cast<size_t>(length));
  return Bytes(raw.begin(), raw.end());
}

Bytes Reader::read_bytes(bool flexible) {
  auto value = read_nullable_bytes(flexible);
  if (!value) {
    fail(DecodeError::unexpected_null);
    return {};
  }
  return std::move(*value);
}

void Writer::write_uvarlong(uint64_t value) {
  while (value >= 0x80) {
    out_.push_back(static_cast<uint8_t>(value | 0x80));
    value >>= 7;
  }
  out_.push_back(static_cast<uint8_t>(value));
}

void Writer::write_uvarint(uint32_t value) { write_uvarlong(value); }

void Writer::write_varint(int32_t value) {
  const auto raw = static_cast<uint32_t>(value);
  write_uvarint((raw << 1) ^ static_cast<uint32_t>(value >> 31));
}

void Writer::write_varlong(int64_t value) {
  const auto raw = static_cast<uint64_t>(value);
  write_uvarlong((raw << 1) ^ static_cast<uint64_t>(value >> 63));
}

void Writer::write_string(std::string_view value, bool flexible) {
  if (flexible) {
    VERIFY(value.size() < std::numeric_limits<uint32_t>::max(), "string too long");
    write_uvarint(static_cast<uint32_t>(value.size() + 1));
  } else {
    VERIFY(value.size() <= static_cast<size_t>(std::numeric_limits<int16_t>::max()),
           "string of {} bytes does not fit a classic int16 length", value.size());
    write_int16(static_cast<int16_t>(value.size()));
  }
  write_raw({reinterpret_cast<const uint8_t*>(value.data()), value.size()});
}

void Writer::write_nullable_string(const std::optional<std::string>& value, bool flexible) {
  if (!value) {
    if (flexible) {
      write_uvarint(0);
    } else {
      write_int16(-1);
    }
    return;
  }
  write_string(*value, flexible);
}

void Writer::write_bytes(std::span<const uint8_t> value, bool flexible) {
  write_array_length(static_cast<int64_t>(value.size()), flexible);
  write_raw(value);
}

void Writer::write_nullable_bytes(const std::optional<Bytes>& value, bool flexible) {
  if (!value) {
    write_array_length(-1, flexible);
    return;
  }
  write_bytes(*value, flexible);
}

void Writer::write_array_length(int64_t count, bool flexible) {
  VERIFY(count >= -1, "negative count {}", count);
  VERIFY(count < std::numeric_limits<int32_t>::max(), "count {} too large", count);
  if (flexible) {
    write_uvarint(static_cast<uint32_t>(count + 1));
  } else {
    write_int32(static_cast<int32_t>(count));
  }
}

void TaggedFieldsWriter::write(Writer& writer) {
  std::sort(fields_.begin(), fields_.end(),
            [](const auto& a, const auto& b) { return a.tag < b.tag; });
  for (size_t i = 1; i < fields_.size(); i++) {
    VERIFY(fields_[i - 1].tag != fields_[i].tag, "tag {} written twice", fields_[i].tag);
  }
  writer.write_uvarint(static_cast<uint32_t>(fields_.size()));
  for (const auto& field : fields_) {
    writer.write_uvarint(field.tag);
    VERIFY(field.data.size() < std::numeric_limits<uint32_t>::max(), "tagged field too big");
    writer.write_uvarint(static_cast<uint32_t>(field.data.size()));
    writer.write_raw(field.data);
  }
}

TaggedFieldsReader::TaggedFieldsReader(Reader& reader) : reader_(reader) {
  remaining_ = reader_.read_uvarint();
  // Each field takes at least two bytes (tag and size).
  if (reader_.ok() && remaining_ > reader_.remaining() / 2) {
    reader_.fail(DecodeError::invalid_tagged_fields);
  }
}

bool TaggedFieldsReader::next(uint32_t& tag, std::span<const uint8_t>& data) {
  if (remaining_ == 0 || !reader_.ok()) return false;
  remaining_--;
  tag = reader_.read_uvarint();
  const uint32_t size = reader_.read_uvarint();
  if (!reader_.ok()) return false;
  if (static_cast<int64_t>(tag) <= previous_tag_) {
    reader_.fail(DecodeError::invalid_tagged_fields);
    return false;
  }
  previous_tag_ = tag;
  if (size > reader_.remaining()) {
    reader_.fail(DecodeError::truncated);
    return false;
  }
  data = reader_.read_raw(size);
  return reader_.ok();
}

}  // namespace weir::protocol
