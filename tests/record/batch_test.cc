#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "record/batch.h"
#include "record/crc32c.h"

namespace weir::record {
namespace {

constexpr size_t kLimit = 16 << 20;

std::optional<Bytes> arbitrary_run() {
  if (*rc::gen::inRange(0, 5) == 0) return std::nullopt;
  return *rc::gen::arbitrary<Bytes>();
}

std::vector<Record> arbitrary_records() {
  const int count = *rc::gen::inRange(0, 20);
  std::vector<Record> records(static_cast<size_t>(count));
  for (int i = 0; i < count; i++) {
    Record& record = records[static_cast<size_t>(i)];
    record.offset_delta = i;
    record.timestamp_delta = *rc::gen::inRange<int64_t>(0, 1'000'000);
    record.key = arbitrary_run();
    record.value = arbitrary_run();
    const int headers = *rc::gen::inRange(0, 3);
    for (int h = 0; h < headers; h++) {
      record.headers.push_back({*rc::gen::arbitrary<std::string>(), arbitrary_run()});
    }
  }
  return records;
}

BatchOptions arbitrary_options() {
  BatchOptions options;
  options.base_offset = Offset(*rc::gen::inRange<int64_t>(0, int64_t{1} << 50));
  options.partition_leader_epoch = LeaderEpoch(*rc::gen::arbitrary<int32_t>());
  options.compression = *rc::gen::element(Compression::none, Compression::gzip,
                                          Compression::snappy, Compression::lz4,
                                          Compression::zstd);
  options.timestamp_type = *rc::gen::element(TimestampType::create_time,
                                             TimestampType::log_append_time);
  options.transactional = *rc::gen::arbitrary<bool>();
  options.base_timestamp = *rc::gen::inRange<int64_t>(0, int64_t{1} << 42);
  options.producer_id = ProducerId(*rc::gen::arbitrary<int64_t>());
  options.producer_epoch = ProducerEpoch(*rc::gen::arbitrary<int16_t>());
  options.base_sequence = Sequence(*rc::gen::arbitrary<int32_t>());
  return options;
}

TEST(Batch, RoundTripEveryCodec) {
  const bool passed = rc::check([] {
    const BatchOptions options = arbitrary_options();
    const std::vector<Record> records = arbitrary_records();
    const Bytes bytes = encode_batch(options, records);

    auto batch = validate_batch(bytes);
    RC_ASSERT(batch.ok());
    const BatchHeader& header = batch->header;
    RC_ASSERT(header.size_bytes() == bytes.size());
    RC_ASSERT(header.base_offset == options.base_offset);
    RC_ASSERT(header.partition_leader_epoch == options.partition_leader_epoch);
    RC_ASSERT(header.compression() == options.compression);
    RC_ASSERT(header.timestamp_type() == options.timestamp_type);
    RC_ASSERT(header.is_transactional() == options.transactional);
    RC_ASSERT(!header.is_control());
    RC_ASSERT(header.producer_id == options.producer_id);
    RC_ASSERT(header.producer_epoch == options.producer_epoch);
    RC_ASSERT(header.base_sequence == options.base_sequence);
    RC_ASSERT(header.records_count == static_cast<int32_t>(records.size()));

    auto decoded = decode_records(batch.value(), kLimit);
    RC_ASSERT(decoded.ok());
    RC_ASSERT(decoded.value() == records);
    Bytes scratch;
    RC_ASSERT(validate_records(batch.value(), kLimit, scratch).ok());
  });
  EXPECT_TRUE(passed);
}

TEST(Batch, OffsetAndEpochRewriteKeepsTheCrc) {
  const bool passed = rc::check([] {
    Bytes bytes = encode_batch(arbitrary_options(), arbitrary_records());
    const uint32_t crc = validate_batch(bytes)->header.crc;
    const Offset offset(*rc::gen::inRange<int64_t>(0, int64_t{1} << 60));
    const LeaderEpoch epoch(*rc::gen::inRange<int32_t>(0, 1 << 30));
    set_base_offset(bytes, offset);
    set_partition_leader_epoch(bytes, epoch);
    auto batch = validate_batch(bytes);
    RC_ASSERT(batch.ok());
    RC_ASSERT(batch->header.crc == crc);
    RC_ASSERT(batch->header.base_offset == offset);
    RC_ASSERT(batch->header.partition_leader_epoch == epoch);
  });
  EXPECT_TRUE(passed);
}

TEST(Batch, LogAppendTimeRewriteUpdatesTheCrc) {
  std::vector<Record> records(3);
  for (int i = 0; i < 3; i++) records[static_cast<size_t>(i)].offset_delta = i;
  Bytes bytes = encode_batch({}, records);
  set_log_append_time(bytes, 1234567);
  auto batch = validate_batch(bytes);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->header.timestamp_type(), TimestampType::log_append_time);
  EXPECT_EQ(batch->header.max_timestamp, 1234567);
}

TEST(Batch, AnyFlippedBitInTheCrcSpanIsCaught) {
  const bool passed = rc::check([] {
    Bytes bytes = encode_batch(arbitrary_options(), arbitrary_records());
    const auto position = *rc::gen::inRange<size_t>(kAttributesOffset, bytes.size());
    const auto bit = *rc::gen::inRange(0, 8);
    bytes[position] ^= static_cast<uint8_t>(1 << bit);
    auto batch = validate_batch(bytes);
    RC_ASSERT(!batch.ok());
    RC_ASSERT(batch.error() == RecordError::crc_mismatch);
  });
  EXPECT_TRUE(passed);
}

TEST(Batch, TruncationAndHostileLengthsFail) {
  std::vector<Record> records(2);
  records[1].offset_delta = 1;
  records[0].value = Bytes(100, 7);
  const Bytes bytes = encode_batch({}, records);
  for (size_t cut = 0; cut < bytes.size(); cut++) {
    auto batch = validate_batch(std::span(bytes).first(cut));
    EXPECT_FALSE(batch.ok()) << cut;
  }
  // batch_length claims 2 GiB.
  Bytes huge = bytes;
  huge[8] = 0x7f;
  EXPECT_EQ(validate_batch(huge).error(), RecordError::truncated);
  // batch_length too small for a header.
  Bytes tiny = bytes;
  tiny[8] = tiny[9] = tiny[10] = 0;
  tiny[11] = 10;
  EXPECT_EQ(validate_batch(tiny).error(), RecordError::invalid_length);
  // Magic 1.
  Bytes old = bytes;
  old[16] = 1;
  EXPECT_EQ(validate_batch(old).error(), RecordError::invalid_magic);
}

// Re-encodes a batch after `edit` changed its records section, fixing the CRC, so
// that the record parser (not the CRC) has to catch the damage.
Bytes with_fixed_crc(Bytes bytes) {
  const uint32_t crc = crc32c(std::span(bytes).subspan(kAttributesOffset));
  bytes[17] = static_cast<uint8_t>(crc >> 24);
  bytes[18] = static_cast<uint8_t>(crc >> 16);
  bytes[19] = static_cast<uint8_t>(crc >> 8);
  bytes[20] = static_cast<uint8_t>(crc);
  return bytes;
}

TEST(Batch, RecordCountMismatchesFail) {
  std::vector<Record> records(2);
  records[1].offset_delta = 1;
  Bytes bytes = encode_batch({}, records);
  // records_count says 1000 with two records present.
  Bytes more = bytes;
  more[59] = 0x03;
  more[60] = 0xe8;
  more = with_fixed_crc(more);
  auto batch = validate_batch(more);
  ASSERT_TRUE(batch.ok());
  EXPECT_FALSE(decode_records(batch.value(), kLimit).ok());
  Bytes scratch;
  EXPECT_FALSE(validate_records(batch.value(), kLimit, scratch).ok());
  // records_count says 1: bytes left over.
  Bytes fewer = bytes;
  fewer[60] = 1;
  fewer = with_fixed_crc(fewer);
  auto fewer_batch = validate_batch(fewer);
  ASSERT_TRUE(fewer_batch.ok());
  EXPECT_EQ(decode_records(fewer_batch.value(), kLimit).error(),
            RecordError::invalid_record_count);
}

TEST(Batch, OffsetDeltasMustBeSequential) {
  std::vector<Record> records(3);
  records[0].offset_delta = 0;
  records[1].offset_delta = 2;
  records[2].offset_delta = 3;
  const Bytes bytes = encode_batch({}, records);
  auto batch = validate_batch(bytes);
  ASSERT_TRUE(batch.ok());
  Bytes scratch;
  const Status status = validate_records(batch.value(), kLimit, scratch);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error(), RecordError::invalid_offset_delta);
}

TEST(Batch, CompressionBombIsRefused) {
  std::vector<Record> records(1);
  records[0].value = Bytes(8 << 20, 'x');
  BatchOptions options;
  options.compression = Compression::zstd;
  const Bytes bytes = encode_batch(options, records);
  EXPECT_LT(bytes.size(), 4096u);
  auto batch = validate_batch(bytes);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(decode_records(batch.value(), 1 << 20).error(), RecordError::too_large);
}

TEST(Batch, ControlBatchesAndTransactionMarkers) {
  const EndTxnMarker marker{ControlType::abort, 17};
  const Record record = make_end_txn_marker(marker);
  BatchOptions options;
  options.control = true;
  options.transactional = true;
  options.producer_id = ProducerId(99);
  options.producer_epoch = ProducerEpoch(3);
  const Bytes bytes = encode_batch(options, std::span(&record, 1));
  auto batch = validate_batch(bytes);
  ASSERT_TRUE(batch.ok());
  EXPECT_TRUE(batch->header.is_control());
  EXPECT_TRUE(batch->header.is_transactional());
  Bytes scratch;
  EXPECT_TRUE(validate_records(batch.value(), kLimit, scratch).ok());
  auto section = records_section(batch.value(), kLimit, scratch);
  ASSERT_TRUE(section.ok());
  RecordCursor cursor(section.value(), batch->header.records_count);
  RecordView view;
  ASSERT_TRUE(cursor.next(view).value());
  auto read = read_end_txn_marker(view);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read.value(), marker);

  // A control batch holding an ordinary record is refused.
  Record plain;
  plain.value = Bytes{1, 2, 3};
  const Bytes bad = encode_batch(options, std::span(&plain, 1));
  auto bad_batch = validate_batch(bad);
  ASSERT_TRUE(bad_batch.ok());
  EXPECT_EQ(validate_records(bad_batch.value(), kLimit, scratch).error(),
            RecordError::invalid_control_record);
}

TEST(Batch, SplitBatchesWalksARecordsField) {
  std::vector<Record> records(1);
  Bytes field;
  for (int i = 0; i < 3; i++) {
    BatchOptions options;
    options.base_offset = Offset(i * 10);
    append_batch(options, records, field);
  }
  auto batches = split_batches(field);
  ASSERT_TRUE(batches.ok());
  ASSERT_EQ(batches->size(), 3u);
  EXPECT_EQ((*batches)[2].header.base_offset, Offset(20));
  field.pop_back();
  EXPECT_FALSE(split_batches(field).ok());
}

TEST(Batch, GarbageNeverCrashes) {
  const bool passed = rc::check([](const Bytes& garbage) {
    auto batch = validate_batch(garbage);
    if (batch.ok()) {
      (void)decode_records(batch.value(), 1 << 16);
    }
    // And a valid header over garbage records.
    Record record;
    Bytes bytes = encode_batch({}, std::span(&record, 1));
    bytes.resize(kBatchHeaderSize);
    bytes.insert(bytes.end(), garbage.begin(), garbage.end());
    const auto length = static_cast<uint32_t>(bytes.size() - kBatchLogOverhead);
    bytes[8] = static_cast<uint8_t>(length >> 24);
    bytes[9] = static_cast<uint8_t>(length >> 16);
    bytes[10] = static_cast<uint8_t>(length >> 8);
    bytes[11] = static_cast<uint8_t>(length);
    bytes = with_fixed_crc(bytes);
    auto view = validate_batch(bytes);
    RC_ASSERT(view.ok());
    (void)decode_records(view.value(), 1 << 16);
    Bytes scratch;
    (void)validate_records(view.value(), 1 << 16, scratch);
  });
  EXPECT_TRUE(passed);
}

}  // namespace
}  // namespace weir::record
