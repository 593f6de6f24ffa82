// The batch builder writes batches that record/'s independent decoder accepts, with
// every record, header, timestamp and producer field as given, in every codec, and
// byte for byte what encode_batch writes for the same records (one encoder).
#include "record/batch_builder.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "record/batch.h"

namespace weir::record {
namespace {

struct Input {
  int64_t timestamp;
  std::optional<std::vector<uint8_t>> key;
  std::optional<std::vector<uint8_t>> value;
  std::vector<std::pair<std::string, std::optional<std::vector<uint8_t>>>> headers;
};

std::optional<std::span<const uint8_t>> view(const std::optional<std::vector<uint8_t>>& bytes) {
  if (!bytes) return std::nullopt;
  return std::span<const uint8_t>(*bytes);
}

// Null (a third of the time) or arbitrary bytes.
std::optional<std::vector<uint8_t>> maybe_bytes() {
  if (*rc::gen::inRange(0, 3) == 0) return std::nullopt;
  return *rc::gen::arbitrary<std::vector<uint8_t>>();
}

RC_GTEST_PROP(BatchBuilder, DecodesToWhatWasAppended, ()) {
  const auto codec = *rc::gen::element(record::Compression::none, record::Compression::gzip,
                                       record::Compression::snappy, record::Compression::lz4,
                                       record::Compression::zstd);
  const int64_t base = *rc::gen::inRange<int64_t>(0, int64_t{1} << 42);
  const auto count = *rc::gen::inRange<size_t>(1, 40);
  std::vector<Input> inputs;
  for (size_t i = 0; i < count; i++) {
    Input input;
    input.timestamp = base + *rc::gen::inRange<int64_t>(-1000, 100000);
    input.key = maybe_bytes();
    input.value = maybe_bytes();
    const auto header_count = *rc::gen::inRange<size_t>(0, 3);
    for (size_t h = 0; h < header_count; h++) {
      input.headers.emplace_back(*rc::gen::arbitrary<std::string>(), maybe_bytes());
    }
    inputs.push_back(std::move(input));
  }
  BatchBuilder builder(codec);
  for (const Input& input : inputs) {
    std::vector<RecordHeader> headers;
    for (const auto& [key, value] : input.headers) headers.push_back({key, view(value)});
    RC_ASSERT(builder.try_append(input.timestamp, view(input.key), view(input.value), headers,
                                 size_t{1} << 30));
  }
  BatchIdentity identity{record::ProducerId{77}, record::ProducerEpoch{3},
                         record::Sequence{*rc::gen::inRange<int32_t>(0, 1 << 30)}, false};
  record::Bytes bytes = builder.finish(identity);

  auto batch = record::validate_batch(bytes);
  RC_ASSERT(batch.ok());
  RC_ASSERT(batch->bytes.size() == bytes.size());
  const record::BatchHeader& header = batch->header;
  RC_ASSERT(header.compression() == codec);
  RC_ASSERT(header.records_count == static_cast<int32_t>(count));
  RC_ASSERT(header.last_offset_delta == static_cast<int32_t>(count) - 1);
  RC_ASSERT(header.producer_id == identity.producer_id);
  RC_ASSERT(header.producer_epoch == identity.producer_epoch);
  RC_ASSERT(header.base_sequence == identity.base_sequence);
  RC_ASSERT(header.base_timestamp == inputs[0].timestamp);
  int64_t max_timestamp = inputs[0].timestamp;
  for (const Input& input : inputs) max_timestamp = std::max(max_timestamp, input.timestamp);
  RC_ASSERT(header.max_timestamp == max_timestamp);
  record::Bytes scratch;
  RC_ASSERT(record::validate_records(*batch, size_t{1} << 30, scratch).ok());
  auto records = record::decode_records(*batch, size_t{1} << 30);
  RC_ASSERT(records.ok());
  RC_ASSERT(records->size() == count);
  // encode_batch of the decoded records, under the builder's options, is the same batch.
  BatchOptions options;
  options.compression = codec;
  options.base_timestamp = inputs[0].timestamp;
  options.producer_id = identity.producer_id;
  options.producer_epoch = identity.producer_epoch;
  options.base_sequence = identity.base_sequence;
  RC_ASSERT(encode_batch(options, *records) == bytes);
  for (size_t i = 0; i < count; i++) {
    const record::Record& got = (*records)[i];
    RC_ASSERT(got.offset_delta == static_cast<int32_t>(i));
    RC_ASSERT(header.base_timestamp + got.timestamp_delta == inputs[i].timestamp);
    RC_ASSERT(got.key == inputs[i].key);
    RC_ASSERT(got.value == inputs[i].value);
    RC_ASSERT(got.headers.size() == inputs[i].headers.size());
    for (size_t h = 0; h < got.headers.size(); h++) {
      RC_ASSERT(got.headers[h].key == inputs[i].headers[h].first);
      RC_ASSERT(got.headers[h].value == inputs[i].headers[h].second);
    }
  }
}

TEST(BatchBuilder, AFullBatchRefusesTheNextRecordButAlwaysTakesTheFirst) {
  const std::vector<uint8_t> value(100, 'x');
  BatchBuilder builder(record::Compression::none);
  // A first record larger than the limit still goes in: it travels alone.
  ASSERT_TRUE(builder.try_append(1, std::nullopt, std::span<const uint8_t>(value), {}, 10));
  EXPECT_FALSE(builder.try_append(1, std::nullopt, std::span<const uint8_t>(value), {}, 10));
  EXPECT_EQ(builder.record_count(), 1);
  BatchBuilder roomy(record::Compression::none);
  for (int i = 0; i < 5; i++) {
    ASSERT_TRUE(roomy.try_append(1, std::nullopt, std::span<const uint8_t>(value), {}, 1000));
  }
  EXPECT_LE(roomy.size_bytes(), 1000u);
  const size_t size = roomy.size_bytes();
  const bool sixth = roomy.try_append(1, std::nullopt, std::span<const uint8_t>(value), {}, 1000);
  EXPECT_EQ(sixth, size + BatchBuilder::record_size(0, 5, std::nullopt,
                                                    std::span<const uint8_t>(value), {}) <=
                       1000);
}

TEST(BatchBuilder, RecordSizeMatchesWhatAppendAdds) {
  const std::vector<uint8_t> key(3, 'k');
  const std::vector<uint8_t> value(300, 'v');
  const std::vector<uint8_t> header_value(2, 'h');
  const RecordHeader headers[] = {{"trace", std::span<const uint8_t>(header_value)},
                                  {"none", std::nullopt}};
  BatchBuilder builder(record::Compression::none);
  const size_t before = builder.size_bytes();
  ASSERT_TRUE(builder.try_append(5, std::span<const uint8_t>(key), std::span<const uint8_t>(value),
                                 headers, 1 << 20));
  EXPECT_EQ(builder.size_bytes() - before,
            BatchBuilder::record_size(0, 0, std::span<const uint8_t>(key),
                                      std::span<const uint8_t>(value), headers));
}

}  // namespace
}  // namespace weir::record
