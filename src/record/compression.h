// The four codecs Kafka batches use, as whole-buffer operations.
//
// Decompression is streaming and stops with RecordError::too_large as soon as the
// output would pass `output_limit`: a batch of a few KiB must not be able to make the
// broker allocate gigabytes (a "zip bomb"). Nothing is allocated from a size the
// compressed data claims without checking it against the limit first.
//
// Forms accepted:
//   gzip    RFC 1952 (zlib with gzip framing), as Kafka's Java and librdkafka write
//   snappy  both the raw form (librdkafka) and xerial's framed form (Java clients:
//           magic 0x82 "SNAPPY" 0x00, two int32 versions, then int32-length blocks)
//   lz4     the LZ4 frame format (Kafka's KafkaLZ4BlockOutputStream for magic v2)
//   zstd    the zstd frame format
#pragma once

#include <cstddef>
#include <span>

#include "record/types.h"

namespace weir::record {

// Compresses `input` with `codec` (not Compression::none). Snappy output is xerial
// framed, which every Kafka client reads.
Bytes compress(Compression codec, std::span<const uint8_t> input);

// Appends to `output` the decompression of `input`, at most `output_limit` bytes.
Status decompress(Compression codec, std::span<const uint8_t> input, size_t output_limit,
                  Bytes& output);

// Raw snappy, for tests and benchmarks of the form librdkafka writes.
Bytes compress_snappy_raw(std::span<const uint8_t> input);

}  // namespace weir::record
