#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "record/compression.h"

namespace weir::record {
namespace {

constexpr Compression kCodecs[] = {Compression::gzip, Compression::snappy, Compression::lz4,
                                   Compression::zstd};

Bytes compressible(size_t size) {
  Bytes data(size);
  for (size_t i = 0; i < size; i++) data[i] = static_cast<uint8_t>("weir log "[i % 9]);
  return data;
}

TEST(Compression, RoundTripEveryCodec) {
  for (Compression codec : kCodecs) {
    const bool passed = rc::check(std::string(compression_name(codec)), [codec] {
      const auto data = *rc::gen::arbitrary<Bytes>();
      const Bytes compressed = compress(codec, data);
      Bytes out = {0xaa};  // decompress appends
      RC_ASSERT(decompress(codec, compressed, data.size(), out).ok());
      RC_ASSERT(out.size() == data.size() + 1);
      RC_ASSERT(std::equal(data.begin(), data.end(), out.begin() + 1));
    });
    EXPECT_TRUE(passed) << compression_name(codec);
  }
}

TEST(Compression, RawSnappyAlsoDecodes) {
  const Bytes data = compressible(100000);
  const Bytes raw = compress_snappy_raw(data);
  Bytes out;
  ASSERT_TRUE(decompress(Compression::snappy, raw, data.size(), out).ok());
  EXPECT_EQ(out, data);
}

TEST(Compression, LimitIsEnforcedForEveryCodec) {
  // 4 MiB of repetition compresses to a few KiB: a small bomb.
  const Bytes data = compressible(4 << 20);
  for (Compression codec : kCodecs) {
    const Bytes compressed = compress(codec, data);
    EXPECT_LT(compressed.size(), data.size() / 10) << compression_name(codec);
    Bytes out;
    const Status at_limit = decompress(codec, compressed, data.size(), out);
    EXPECT_TRUE(at_limit.ok()) << compression_name(codec);
    EXPECT_EQ(out, data) << compression_name(codec);

    Bytes limited = {1, 2, 3};
    const Status over = decompress(codec, compressed, data.size() - 1, limited);
    ASSERT_FALSE(over.ok()) << compression_name(codec);
    EXPECT_EQ(over.error(), RecordError::too_large) << compression_name(codec);
    EXPECT_EQ(limited, (Bytes{1, 2, 3})) << "a failed decompression leaves the output as it was";
    // Never much beyond the limit, even transiently.
    EXPECT_LE(limited.capacity(), data.size() + (1 << 17)) << compression_name(codec);
  }
}

TEST(Compression, GarbageAndTruncationFail) {
  const Bytes data = compressible(50000);
  for (Compression codec : kCodecs) {
    const Bytes compressed = compress(codec, data);
    for (size_t cut : {size_t{0}, size_t{1}, compressed.size() / 2, compressed.size() - 1}) {
      Bytes out;
      const Status status =
          decompress(codec, std::span(compressed).first(cut), data.size(), out);
      EXPECT_FALSE(status.ok()) << compression_name(codec) << " cut at " << cut;
      EXPECT_TRUE(out.empty());
    }
  }
  const bool passed = rc::check("garbage never crashes", [] {
    const auto codec = *rc::gen::elementOf(std::vector<Compression>(std::begin(kCodecs),
                                                                    std::end(kCodecs)));
    const auto garbage = *rc::gen::arbitrary<Bytes>();
    Bytes out;
    (void)decompress(codec, garbage, 1 << 16, out);
    RC_ASSERT(out.size() <= (1u << 16));
  });
  EXPECT_TRUE(passed);
}

}  // namespace
}  // namespace weir::record
