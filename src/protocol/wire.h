// Primitive encodings of Kafka's wire protocol: big-endian integers, varints,
// classic and compact ("flexible") strings, bytes and arrays, UUIDs, tagged fields.
//
// Reader never reads past its buffer and never throws: the first failure is
// recorded as a DecodeError and makes every later read return a zero value, so
// generated decoders can read a whole struct and check once, and loops over
// arrays stop at the first failure. Lengths read from the wire are checked against
// the bytes that remain before anything is allocated from them, so a hostile
// length costs at most a proportion of the frame it came in.
//
// Writer appends to a caller-owned byte vector. Encoding cannot fail on valid
// values; an unrepresentable value (null where the version forbids it, a string
// longer than int16) is a programmer error and fails a VERIFY.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/assert.h"
#include "base/big_endian.h"
#include "base/result.h"

namespace weir::protocol {

using Bytes = std::vector<uint8_t>;

struct Uuid {
  std::array<uint8_t, 16> bytes{};
  bool operator==(const Uuid&) const = default;
  auto operator<=>(const Uuid&) const = default;
};

// A tagged field this build does not know, kept verbatim so that forwarding or
// re-encoding a message loses nothing.
struct UnknownTaggedField {
  uint32_t tag = 0;
  Bytes data;
  bool operator==(const UnknownTaggedField&) const = default;
};
using UnknownTaggedFields = std::vector<UnknownTaggedField>;

enum class DecodeError : uint8_t {
  none = 0,
  truncated,             // the buffer ended inside a value
  invalid_length,        // a negative length other than -1, or one past the buffer's end
  invalid_varint,        // more than 5 (or 10) bytes, or overflowing the type
  unexpected_null,       // null where the version does not allow it
  invalid_tagged_fields, // duplicate or unordered tags, or a known tag of the wrong size
  trailing_bytes,        // the message ended before its frame did
  unsupported_version,   // version outside the range weir serves for that api
  unknown_api_key,       // an api key weir does not implement
};

std::string_view decode_error_name(DecodeError error);

// The outcome of a decode: a value or the reason there is none. Failures are built
// with weir::unexpected(DecodeError::...); the error is never DecodeError::none.
template <typename T>
using Result = weir::Result<T, DecodeError>;

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> data) : data_(data) {}

  bool ok() const { return error_ == DecodeError::none; }
  DecodeError error() const { return error_; }
  size_t remaining() const { return data_.size() - position_; }
  size_t position() const { return position_; }
  bool at_end() const { return position_ == data_.size(); }

  // Records the first failure; later reads return zero values.
  void fail(DecodeError error) {
    if (error_ == DecodeError::none) error_ = error;
  }

  int8_t read_int8() { return static_cast<int8_t>(read_big_endian<uint8_t>()); }
  int16_t read_int16() { return static_cast<int16_t>(read_big_endian<uint16_t>()); }
  uint16_t read_uint16() { return read_big_endian<uint16_t>(); }
  int32_t read_int32() { return static_cast<int32_t>(read_big_endian<uint32_t>()); }
  uint32_t read_uint32() { return read_big_endian<uint32_t>(); }
  int64_t read_int64() { return static_cast<int64_t>(read_big_endian<uint64_t>()); }
  double read_float64() { return std::bit_cast<double>(read_big_endian<uint64_t>()); }
  bool read_bool() { return read_big_endian<uint8_t>() != 0; }
  Uuid read_uuid();

  uint32_t read_uvarint();
  int32_t read_varint();   // zig-zag
  uint64_t read_uvarlong();
  int64_t read_varlong();  // zig-zag

  // Length of a string, bytes or array: -1 means null. Classic encodings carry an
  // int16 (strings) or int32 (bytes, arrays); compact ones an unsigned varint of
  // length + 1. A length longer than the remaining bytes fails here, before the
  // caller allocates: every element of every type takes at least one byte, except
  // structs of zero fields, which the generator bounds separately.
  int64_t read_string_length(bool flexible);
  int64_t read_bytes_length(bool flexible);
  int64_t read_array_length(bool flexible) { return read_bytes_length(flexible); }

  std::string read_string(bool flexible);  // null fails with unexpected_null
  std::optional<std::string> read_nullable_string(bool flexible);
  Bytes read_bytes(bool flexible);
  std::optional<Bytes> read_nullable_bytes(bool flexible);

  // The next `size` bytes, consumed; an empty span on failure.
  std::span<const uint8_t> read_raw(size_t size);

 private:
  template <typename U>
  U read_big_endian() {
    if (!ok()) return 0;
    if (remaining() < sizeof(U)) {
      fail(DecodeError::truncated);
      return 0;
    }
    const U value = load_big_endian<U>(data_.data() + position_);
    position_ += sizeof(U);
    return value;
  }

  std::span<const uint8_t> data_;
  size_t position_ = 0;
  DecodeError error_ = DecodeError::none;
};

class Writer {
 public:
  explicit Writer(Bytes& out) : out_(out) {}

  size_t size() const { return out_.size(); }
  Bytes& buffer() { return out_; }

  void write_int8(int8_t value) { out_.push_back(static_cast<uint8_t>(value)); }
  void write_int16(int16_t value) { write_big_endian(static_cast<uint16_t>(value)); }
  void write_uint16(uint16_t value) { write_big_endian(value); }
  void write_int32(int32_t value) { write_big_endian(static_cast<uint32_t>(value)); }
  void write_uint32(uint32_t value) { write_big_endian(value); }
  void write_int64(int64_t value) { write_big_endian(static_cast<uint64_t>(value)); }
  void write_float64(double value) { write_big_endian(std::bit_cast<uint64_t>(value)); }
  void write_bool(bool value) { out_.push_back(value ? 1 : 0); }
  void write_uuid(const Uuid& value) { write_raw(value.bytes); }

  void write_uvarint(uint32_t value);
  void write_varint(int32_t value);
  void write_uvarlong(uint64_t value);
  void write_varlong(int64_t value);

  void write_string(std::string_view value, bool flexible);
  void write_nullable_string(const std::optional<std::string>& value, bool flexible);
  void write_bytes(std::span<const uint8_t> value, bool flexible);
  void write_nullable_bytes(const std::optional<Bytes>& value, bool flexible);
  // -1 writes null.
  void write_array_length(int64_t count, bool flexible);

  void write_raw(std::span<const uint8_t> value) {
    out_.insert(out_.end(), value.begin(), value.end());
  }

 private:
  template <typename U>
  void write_big_endian(U value) {
    append_big_endian(out_, value);
  }

  Bytes& out_;
};

// Number of bytes write_uvarint(value) produces.
constexpr size_t uvarint_size(uint64_t value) {
  size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    size++;
  }
  return size;
}

// Tagged fields of one struct, gathered during encode and written in tag order,
// which the protocol requires.
class TaggedFieldsWriter {
 public:
  // Starts a field: encode its value into the returned buffer.
  Bytes& add(uint32_t tag) {
    fields_.push_back({tag, {}});
    return fields_.back().data;
  }
  void add_unknown(const UnknownTaggedFields& unknown) {
    for (const auto& field : unknown) fields_.push_back(field);
  }
  void write(Writer& writer);

 private:
  std::vector<UnknownTaggedField> fields_;
};

// Reads a tagged-field section: returns each field's tag and exact bytes, in the
// order of the wire, after checking tags ascend strictly.
class TaggedFieldsReader {
 public:
  explicit TaggedFieldsReader(Reader& reader);
  // False when no field remains (or the section failed to decode).
  bool next(uint32_t& tag, std::span<const uint8_t>& data);

 private:
  Reader& reader_;
  uint32_t remaining_ = 0;
  int64_t previous_tag_ = -1;
};

// Decodes the whole of a tagged field's bytes with `decode`, failing `outer` when
// the field is malformed or does not use exactly its declared size.
template <typename Decode>
void decode_tagged_field(Reader& outer, std::span<const uint8_t> data, Decode&& decode) {
  Reader inner(data);
  decode(inner);
  if (!inner.ok()) {
    outer.fail(inner.error() == DecodeError::truncated ? DecodeError::invalid_tagged_fields
                                                       : inner.error());
  } else if (!inner.at_end()) {
    outer.fail(DecodeError::invalid_tagged_fields);
  }
}

}  // namespace weir::protocol
