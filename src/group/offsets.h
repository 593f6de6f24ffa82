// GroupOffsets: one group's committed offsets, kept the way __consumer_offsets holds
// them. State changes only by replaying OffsetCommit records — the records a commit
// appends, or those a new coordinator reads back on load — so the live path and the
// recovery path are one path: commit_record() says what to append, and replay() of that
// record (after the append is durable) is what makes the commit visible to fetch().
//
// Expiry follows offsets.retention.minutes (KIP-211): a group with members keeps its
// offsets; an Empty group's offsets expire a retention after it became Empty; a group
// that never had members (simple commits) expires each offset a retention after its
// own commit. A version 1 record's explicit expire timestamp wins over both.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <absl/container/btree_map.h>

#include "group/classic_group.h"
#include "group/records.h"

namespace weir::group {

struct TopicPartition {
  std::string topic;
  PartitionId partition;
  auto operator<=>(const TopicPartition&) const = default;
  bool operator==(const TopicPartition&) const = default;
};

struct CommittedOffset {
  record::Offset offset;
  LeaderEpoch leader_epoch{-1};
  std::string metadata;
  int64_t commit_timestamp_ms = 0;
  std::optional<int64_t> expire_timestamp_ms;  // only from version 1 records
  bool operator==(const CommittedOffset&) const = default;
};

class GroupOffsets {
 public:
  explicit GroupOffsets(std::string group_id);

  // OFFSET_METADATA_TOO_LARGE when the metadata exceeds offset.metadata.max.bytes.
  static ErrorCode validate_commit(const CommittedOffset& offset, size_t metadata_bytes_max);
  // The record that commits `offset` (written as OffsetCommitValue v3).
  OffsetsRecord commit_record(const TopicPartition& partition, const CommittedOffset& offset) const;
  // The tombstone that deletes a committed offset (OffsetDelete, expiry).
  OffsetsRecord delete_record(const TopicPartition& partition) const;
  // Applies an OffsetCommit record of this group; a null value deletes.
  void replay(const OffsetCommitKey& key, const std::optional<OffsetCommitValue>& value);

  const CommittedOffset* fetch(const TopicPartition& partition) const;
  const absl::btree_map<TopicPartition, CommittedOffset>& all() const { return offsets_; }
  bool empty() const { return offsets_.empty(); }
  const std::string& group_id() const { return group_id_; }

  // Tombstones for the offsets expired at `now_ms` (wall time), in partition order.
  // `expiry` is the group's ClassicGroup::offset_expiry() (nullopt: nothing expires).
  std::vector<OffsetsRecord> expired(const std::optional<OffsetExpiry>& expiry, int64_t now_ms,
                                     std::chrono::milliseconds retention) const;

 private:
  std::string group_id_;
  absl::btree_map<TopicPartition, CommittedOffset> offsets_;
};

}  // namespace weir::group
