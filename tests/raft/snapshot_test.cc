// Snapshot files (names, framing, checks) and FetchSnapshot's wire mapping.
#include "raft/snapshot.h"

#include <gtest/gtest.h>

#include "raft/wire.h"
#include "record/batch.h"

namespace weir::raft {
namespace {

// Two payload batches of 2 and 3 records, numbered from 40 as a log would have them.
protocol::Bytes payload() {
  protocol::Bytes out;
  for (int count : {2, 3}) {
    std::vector<record::Record> records(static_cast<size_t>(count));
    for (int i = 0; i < count; i++) {
      records[static_cast<size_t>(i)].offset_delta = i;
      records[static_cast<size_t>(i)].value = protocol::Bytes{static_cast<uint8_t>(count), 7};
    }
    record::BatchOptions options;
    options.base_offset = record::Offset(40);
    record::append_batch(options, records, out);
  }
  return out;
}

TEST(SnapshotFile, NamesRoundTripAndOthersAreNotSnapshots) {
  const SnapshotId id{Offset(1234), Epoch(7)};
  EXPECT_EQ(snapshot_file_name(id), "00000000000000001234-0000000007.checkpoint");
  EXPECT_EQ(parse_snapshot_file_name(snapshot_file_name(id)), id);
  for (const char* other : {"00000000000000000000.log", "quorum-state",
                            "00000000000000001234-0000000007.checkpoint.tmp",
                            "0000000000000000123x-0000000007.checkpoint",
                            "00000000000000001234_0000000007.checkpoint"}) {
    EXPECT_FALSE(parse_snapshot_file_name(other)) << other;
  }
}

TEST(SnapshotFile, FramingKeepsThePayloadAndNumbersBatchesFromZero) {
  const protocol::Bytes body = payload();
  const protocol::Bytes file = frame_snapshot(body, 1'700'000'000'000);
  auto batches = record::split_batches(file);
  ASSERT_TRUE(batches.ok());
  ASSERT_EQ(batches->size(), 4u);
  EXPECT_TRUE((*batches)[0].header.is_control());
  EXPECT_EQ((*batches)[1].header.base_offset, record::Offset(1));
  EXPECT_EQ((*batches)[2].header.base_offset, record::Offset(3));
  EXPECT_EQ((*batches)[3].header.base_offset, record::Offset(6));
  EXPECT_TRUE((*batches)[3].header.is_control());
  const auto back = snapshot_payload(file);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->size(), body.size());
  // Same records; only the base offsets (outside the CRC) were renumbered.
  auto original = record::split_batches(body);
  auto framed = record::split_batches(*back);
  ASSERT_TRUE(original.ok() && framed.ok());
  for (size_t i = 0; i < original->size(); i++) {
    EXPECT_EQ(record::decode_records((*original)[i], 1 << 20).value(),
              record::decode_records((*framed)[i], 1 << 20).value());
  }
}

TEST(SnapshotFile, DamageAndTruncationAreRefused) {
  const protocol::Bytes file = frame_snapshot(payload(), 0);
  ASSERT_TRUE(snapshot_payload(file));
  // A cut download, a flipped bit in any byte, a missing header or footer.
  for (size_t cut : {size_t{0}, size_t{10}, file.size() / 2, file.size() - 1}) {
    EXPECT_FALSE(snapshot_payload(std::span(file).first(cut))) << cut;
  }
  // Every byte but the partition leader epoch (bytes 12-15 of a batch), which neither
  // the CRC nor the payload's meaning covers.
  std::vector<bool> covered(file.size(), true);
  size_t start = 0;
  const auto batches = record::split_batches(file);
  ASSERT_TRUE(batches.ok());
  for (const auto& batch : *batches) {
    for (size_t i = 12; i < 16; i++) covered[start + i] = false;
    start += batch.bytes.size();
  }
  for (size_t at = 0; at < file.size(); at += 3) {
    if (!covered[at]) continue;
    protocol::Bytes damaged = file;
    damaged[at] ^= 0x10;
    EXPECT_FALSE(snapshot_payload(damaged)) << "flip at " << at;
  }
  EXPECT_FALSE(snapshot_payload(payload())) << "batches without header and footer";
}

TEST(SnapshotWire, FetchSnapshotRoundTrips) {
  const SnapshotChunkRequest request{ReplicaId(3), Epoch(9), SnapshotId{Offset(500), Epoch(8)},
                                     4096};
  const auto wire = to_wire(request, "cluster-x", 1 << 16);
  EXPECT_EQ(wire.cluster_id, "cluster-x");
  EXPECT_EQ(wire.max_bytes, 1 << 16);
  const auto back = from_wire(wire);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->replica, request.replica);
  EXPECT_EQ(back->current_leader_epoch, request.current_leader_epoch);
  EXPECT_EQ(back->id, request.id);
  EXPECT_EQ(back->position, 4096);

  auto bad = wire;
  bad.topics[0].partitions[0].position = -1;
  EXPECT_FALSE(from_wire(bad)) << "a negative position";
  bad = wire;
  bad.topics[0].name = "other";
  EXPECT_FALSE(from_wire(bad)) << "not the metadata topic";

  SnapshotChunk chunk;
  chunk.epoch = Epoch(9);
  chunk.leader = ReplicaId(1);
  chunk.id = request.id;
  chunk.size = 10000;
  chunk.position = 4096;
  std::span<const uint8_t> bytes;
  const auto decoded = from_wire(to_wire(chunk, protocol::Bytes{1, 2, 3}), bytes);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->error, protocol::ErrorCode::none);
  EXPECT_EQ(decoded->leader, ReplicaId(1));
  EXPECT_EQ(decoded->id, request.id);
  EXPECT_EQ(decoded->size, 10000);
  EXPECT_EQ(decoded->position, 4096);
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.end()), (std::vector<uint8_t>{1, 2, 3}));

  // The fetch answer that names a snapshot carries it both ways.
  FetchDecision decision;
  decision.epoch = Epoch(9);
  decision.leader = ReplicaId(1);
  decision.high_watermark = Offset(600);
  decision.snapshot = request.id;
  std::span<const uint8_t> records;
  const auto fetched = from_wire(to_wire(decision, {}), records);
  ASSERT_TRUE(fetched);
  EXPECT_EQ(fetched->snapshot, request.id);
  EXPECT_FALSE(fetched->diverging);
}

}  // namespace
}  // namespace weir::raft
