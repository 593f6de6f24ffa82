// Fuzzes the record batch decoder: framing, CRC, decompression of every codec,
// record parsing, control records.
//
// Input: a records field (batches back to back), as in a Produce request. Because a
// random CRC almost never matches, the fuzzer's bytes are also tried with the CRC of
// each batch recomputed, so mutations reach the record parser and the codecs.
// Checks: no crash, no out-of-bounds access, decompression held to its limit, and
// a batch whose records decode re-encodes (uncompressed) to a batch whose records
// decode equal.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "record/batch.h"

namespace {

using weir::record::Bytes;

constexpr size_t kDecompressedBytesMax = 1 << 20;

void check_batch(const weir::record::BatchView& batch) {
  Bytes scratch;
  (void)weir::record::validate_records(batch, kDecompressedBytesMax, scratch);
  VERIFY(scratch.size() <= kDecompressedBytesMax, "decompressed past the limit");
  auto records = weir::record::decode_records(batch, kDecompressedBytesMax);
  if (!records) return;

  weir::record::BatchOptions options;
  options.base_offset = batch.header.base_offset;
  options.base_timestamp = batch.header.base_timestamp;
  const Bytes encoded = weir::record::encode_batch(options, records.value());
  auto view = weir::record::validate_batch(encoded);
  VERIFY(view.ok(), "a re-encoded batch fails validation");
  auto again = weir::record::decode_records(view.value(), kDecompressedBytesMax);
  VERIFY(again.ok(), "re-encoded records fail to decode");
  VERIFY(again.value() == records.value(), "records changed in a round trip");
}

void check_records_field(std::span<const uint8_t> field) {
  auto batches = weir::record::split_batches(field);
  if (!batches) return;
  for (const auto& batch : batches.value()) check_batch(batch);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> field(data, size);
  check_records_field(field);

  // Again with each batch's CRC fixed up, so that mutations get past the checksum.
  Bytes fixed(data, data + size);
  size_t offset = 0;
  while (offset < fixed.size()) {
    auto header = weir::record::read_batch_header(std::span(fixed).subspan(offset));
    if (!header || header->size_bytes() > fixed.size() - offset) break;
    auto batch = std::span(fixed).subspan(offset, header->size_bytes());
    const uint32_t crc = weir::record::compute_batch_crc(batch);
    for (int i = 0; i < 4; i++) {
      batch[weir::record::kCrcOffset + static_cast<size_t>(i)] =
          static_cast<uint8_t>(crc >> (24 - 8 * i));
    }
    offset += header->size_bytes();
  }
  if (offset > 0) check_records_field(std::span(fixed).first(offset));
  return 0;
}
