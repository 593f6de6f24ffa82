#include "record/compression.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <lz4frame.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include "base/assert.h"
#include "base/big_endian.h"

namespace weir::record {
namespace {

// Output grows in steps of this many bytes; never more than the limit allows.
constexpr size_t kChunk = 64 * 1024;

// Makes room for up to kChunk more bytes of output within the limit and returns the
// first new byte; `room` receives how many. Zero room means the limit is reached.
uint8_t* grow(Bytes& output, size_t start, size_t output_limit, size_t& room) {
  const size_t used = output.size() - start;
  room = std::min(kChunk, output_limit - used);
  const size_t old_size = output.size();
  output.resize(old_size + room);
  return output.data() + old_size;
}

// ---- gzip ----------------------------------------------------------------------

Bytes compress_gzip(std::span<const uint8_t> input) {
  z_stream stream{};
  // 15 window bits + 16 selects the gzip wrapper.
  int rc = deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                        Z_DEFAULT_STRATEGY);
  VERIFY(rc == Z_OK, "deflateInit2: {}", rc);
  Bytes output(deflateBound(&stream, input.size()) + 32);
  stream.next_in = const_cast<Bytef*>(input.data());
  stream.avail_in = static_cast<uInt>(input.size());
  stream.next_out = output.data();
  stream.avail_out = static_cast<uInt>(output.size());
  rc = deflate(&stream, Z_FINISH);
  VERIFY(rc == Z_STREAM_END, "deflate: {}", rc);
  output.resize(stream.total_out);
  deflateEnd(&stream);
  return output;
}

Status decompress_gzip(std::span<const uint8_t> input, size_t output_limit, Bytes& output) {
  if (input.size() > std::numeric_limits<uInt>::max()) return unexpected(RecordError::too_large);
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 16) != Z_OK) return unexpected(RecordError::decompression_failed);
  stream.next_in = const_cast<Bytef*>(input.data());
  stream.avail_in = static_cast<uInt>(input.size());
  const size_t start = output.size();
  Status status;
  while (true) {
    size_t room = 0;
    uint8_t* out = grow(output, start, output_limit, room);
    if (room == 0) {
      // At the limit: the stream is acceptable only if it ends exactly here.
      uint8_t probe;
      stream.next_out = &probe;
      stream.avail_out = 1;
      const int rc = inflate(&stream, Z_NO_FLUSH);
      if (rc == Z_STREAM_END && stream.avail_out == 1) break;
      status = rc == Z_OK || rc == Z_BUF_ERROR || rc == Z_STREAM_END
                   ? Status(unexpected(RecordError::too_large))
                   : Status(unexpected(RecordError::decompression_failed));
      break;
    }
    stream.next_out = out;
    stream.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&stream, Z_NO_FLUSH);
    output.resize(output.size() - stream.avail_out);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && !(rc == Z_BUF_ERROR && stream.avail_out == 0)) {
      status = unexpected(RecordError::decompression_failed);
      break;
    }
    if (rc == Z_OK && stream.avail_in == 0 && stream.avail_out != 0) {
      status = unexpected(RecordError::decompression_failed);  // input ended inside the stream
      break;
    }
  }
  inflateEnd(&stream);
  if (!status.ok()) output.resize(start);
  return status;
}

// ---- snappy --------------------------------------------------------------------

constexpr uint8_t kXerialMagic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr size_t kXerialHeader = 16;  // magic, version int32, compatible version int32
constexpr size_t kXerialBlock = 32 * 1024;  // Java's default block size

uint32_t load_big_endian_32(const uint8_t* p) { return load_big_endian<uint32_t>(p); }
void store_big_endian_32(uint8_t* p, uint32_t value) { store_big_endian(p, value); }

Status decompress_snappy_block(std::span<const uint8_t> block, size_t output_limit,
                               size_t start, Bytes& output) {
  size_t length = 0;
  const auto* data = reinterpret_cast<const char*>(block.data());
  if (!snappy::GetUncompressedLength(data, block.size(), &length)) {
    return unexpected(RecordError::decompression_failed);
  }
  // The claimed length is checked against the limit before anything is allocated.
  if (length > output_limit - (output.size() - start)) return unexpected(RecordError::too_large);
  const size_t old_size = output.size();
  output.resize(old_size + length);
  if (!snappy::RawUncompress(data, block.size(),
                             reinterpret_cast<char*>(output.data() + old_size))) {
    return unexpected(RecordError::decompression_failed);
  }
  return {};
}

Bytes compress_snappy_xerial(std::span<const uint8_t> input) {
  Bytes output(kXerialHeader);
  std::memcpy(output.data(), kXerialMagic, sizeof(kXerialMagic));
  store_big_endian_32(output.data() + 8, 1);   // version
  store_big_endian_32(output.data() + 12, 1);  // minimum compatible version
  for (size_t offset = 0; offset < input.size(); offset += kXerialBlock) {
    const size_t size = std::min(kXerialBlock, input.size() - offset);
    const size_t at = output.size();
    output.resize(at + 4 + snappy::MaxCompressedLength(size));
    size_t compressed = 0;
    snappy::RawCompress(reinterpret_cast<const char*>(input.data() + offset), size,
                        reinterpret_cast<char*>(output.data() + at + 4), &compressed);
    store_big_endian_32(output.data() + at, static_cast<uint32_t>(compressed));
    output.resize(at + 4 + compressed);
  }
  return output;
}

Status decompress_snappy(std::span<const uint8_t> input, size_t output_limit, Bytes& output) {
  const size_t start = output.size();
  Status status;
  if (input.size() >= kXerialHeader &&
      std::memcmp(input.data(), kXerialMagic, sizeof(kXerialMagic)) == 0) {
    size_t offset = kXerialHeader;
    while (offset < input.size() && status.ok()) {
      if (input.size() - offset < 4) {
        status = unexpected(RecordError::decompression_failed);
        break;
      }
      const uint32_t size = load_big_endian_32(input.data() + offset);
      offset += 4;
      if (size > input.size() - offset) {
        status = unexpected(RecordError::decompression_failed);
        break;
      }
      status = decompress_snappy_block(input.subspan(offset, size), output_limit, start, output);
      offset += size;
    }
  } else {
    status = decompress_snappy_block(input, output_limit, start, output);
  }
  if (!status.ok()) output.resize(start);
  return status;
}

// ---- lz4 -----------------------------------------------------------------------

Bytes compress_lz4(std::span<const uint8_t> input) {
  LZ4F_preferences_t preferences{};
  preferences.frameInfo.blockSizeID = LZ4F_max64KB;  // Kafka's block size
  preferences.frameInfo.blockMode = LZ4F_blockIndependent;
  Bytes output(LZ4F_compressFrameBound(input.size(), &preferences));
  const size_t size = LZ4F_compressFrame(output.data(), output.size(), input.data(),
                                         input.size(), &preferences);
  VERIFY(!LZ4F_isError(size), "LZ4F_compressFrame: {}", LZ4F_getErrorName(size));
  output.resize(size);
  return output;
}

Status decompress_lz4(std::span<const uint8_t> input, size_t output_limit, Bytes& output) {
  LZ4F_dctx* context = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&context, LZ4F_VERSION))) {
    return unexpected(RecordError::decompression_failed);
  }
  const size_t start = output.size();
  size_t offset = 0;
  Status status;
  bool finished = false;
  while (!finished) {
    size_t room = 0;
    uint8_t* out = grow(output, start, output_limit, room);
    size_t in_size = input.size() - offset;
    // At the limit, offer one byte more: any output then means the limit is passed.
    uint8_t probe;
    uint8_t* destination = room == 0 ? &probe : out;
    size_t out_size = room == 0 ? 1 : room;
    const size_t hint = LZ4F_decompress(context, destination, &out_size,
                                        input.data() + offset, &in_size, nullptr);
    offset += in_size;
    if (LZ4F_isError(hint)) {
      status = unexpected(RecordError::decompression_failed);
      break;
    }
    if (room == 0) {
      if (out_size > 0) {
        status = unexpected(RecordError::too_large);
        break;
      }
    } else {
      output.resize(output.size() - (room - out_size));
    }
    if (hint == 0) {
      finished = true;  // frame complete
    } else if (in_size == 0 && out_size == 0) {
      // No progress: either the input is exhausted mid-frame or the output is full.
      status = offset == input.size() ? Status(unexpected(RecordError::decompression_failed))
                                      : Status(unexpected(RecordError::too_large));
      break;
    }
  }
  LZ4F_freeDecompressionContext(context);
  if (status.ok() && offset != input.size()) status = unexpected(RecordError::decompression_failed);
  if (!status.ok()) output.resize(start);
  return status;
}

// ---- zstd ----------------------------------------------------------------------

Bytes compress_zstd(std::span<const uint8_t> input) {
  Bytes output(ZSTD_compressBound(input.size()));
  const size_t size = ZSTD_compress(output.data(), output.size(), input.data(), input.size(), 3);
  VERIFY(!ZSTD_isError(size), "ZSTD_compress: {}", ZSTD_getErrorName(size));
  output.resize(size);
  return output;
}

Status decompress_zstd(std::span<const uint8_t> input, size_t output_limit, Bytes& output) {
  ZSTD_DStream* stream = ZSTD_createDStream();
  if (stream == nullptr) return unexpected(RecordError::decompression_failed);
  // Bound the decoder's own window allocation too: 2^27 bytes (128 MiB) is zstd's
  // default maximum; never more than needed for the limit.
  ZSTD_DCtx_setParameter(stream, ZSTD_d_windowLogMax, 27);
  const size_t start = output.size();
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  Status status;
  size_t last = 1;
  while (true) {
    size_t room = 0;
    uint8_t* out = grow(output, start, output_limit, room);
    uint8_t probe;
    ZSTD_outBuffer out_buffer{room == 0 ? &probe : out, room == 0 ? 1 : room, 0};
    last = ZSTD_decompressStream(stream, &out_buffer, &in);
    if (ZSTD_isError(last)) {
      status = unexpected(RecordError::decompression_failed);
      break;
    }
    if (room == 0) {
      if (out_buffer.pos > 0) {
        status = unexpected(RecordError::too_large);
        break;
      }
    } else {
      output.resize(output.size() - (room - out_buffer.pos));
    }
    if (last == 0 && in.pos == in.size) break;  // every frame complete
    if (in.pos == in.size && out_buffer.pos < out_buffer.size) {
      status = unexpected(RecordError::decompression_failed);  // input ended inside a frame
      break;
    }
  }
  ZSTD_freeDStream(stream);
  if (!status.ok()) output.resize(start);
  return status;
}

}  // namespace

std::string_view compression_name(Compression compression) {
  switch (compression) {
    case Compression::none: return "none";
    case Compression::gzip: return "gzip";
    case Compression::snappy: return "snappy";
    case Compression::lz4: return "lz4";
    case Compression::zstd: return "zstd";
  }
  return "unknown";
}

Bytes compress(Compression codec, std::span<const uint8_t> input) {
  switch (codec) {
    case Compression::gzip: return compress_gzip(input);
    case Compression::snappy: return compress_snappy_xerial(input);
    case Compression::lz4: return compress_lz4(input);
    case Compression::zstd: return compress_zstd(input);
    case Compression::none: break;
  }
  UNREACHABLE("compress() with codec {}", static_cast<int>(codec));
}

Bytes compress_snappy_raw(std::span<const uint8_t> input) {
  std::string out;
  snappy::Compress(reinterpret_cast<const char*>(input.data()), input.size(), &out);
  return Bytes(out.begin(), out.end());
}

Status decompress(Compression codec, std::span<const uint8_t> input, size_t output_limit,
                  Bytes& output) {
  switch (codec) {
    case Compression::gzip: return decompress_gzip(input, output_limit, output);
    case Compression::snappy: return decompress_snappy(input, output_limit, output);
    case Compression::lz4: return decompress_lz4(input, output_limit, output);
    case Compression::zstd: return decompress_zstd(input, output_limit, output);
    case Compression::none: break;
  }
  return unexpected(RecordError::invalid_compression);
}

}  // namespace weir::record
