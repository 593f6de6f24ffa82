// GroupOffsets: commits become records, records become state.
#include "group/offsets.h"

#include <utility>

#include "base/assert.h"

namespace weir::group {

GroupOffsets::GroupOffsets(std::string group_id) : group_id_(std::move(group_id)) {
  VERIFY(!group_id_.empty(), "offsets belong to a group");
}

ErrorCode GroupOffsets::validate_commit(const CommittedOffset& offset, size_t metadata_bytes_max) {
  if (offset.metadata.size() > metadata_bytes_max) return ErrorCode::offset_metadata_too_large;
  return ErrorCode::none;
}

OffsetsRecord GroupOffsets::commit_record(const TopicPartition& partition,
                                          const CommittedOffset& offset) const {
  VERIFY(!partition.topic.empty(), "a commit names a topic");
  OffsetCommitValue value;
  value.offset = offset.offset;
  value.leader_epoch = offset.leader_epoch;
  value.metadata = offset.metadata;
  value.commit_timestamp_ms = offset.commit_timestamp_ms;
  return OffsetsRecord{OffsetCommitKey{group_id_, partition.topic, partition.partition},
                       RecordValue(std::move(value))};
}

OffsetsRecord GroupOffsets::delete_record(const TopicPartition& partition) const {
  return OffsetsRecord{OffsetCommitKey{group_id_, partition.topic, partition.partition},
                       std::nullopt};
}

void GroupOffsets::replay(const OffsetCommitKey& key,
                          const std::optional<OffsetCommitValue>& value) {
  VERIFY(key.group == group_id_, "group {}'s record replayed into {}", key.group, group_id_);
  const TopicPartition partition{key.topic, key.partition};
  if (!value) {
    offsets_.erase(partition);
    return;
  }
  CommittedOffset offset;
  offset.offset = value->offset;
  offset.leader_epoch = value->leader_epoch;
  offset.metadata = value->metadata;
  offset.commit_timestamp_ms = value->commit_timestamp_ms;
  if (value->expire_timestamp_ms >= 0) offset.expire_timestamp_ms = value->expire_timestamp_ms;
  offsets_.insert_or_assign(partition, std::move(offset));
  VERIFY(offsets_.contains(partition), "replayed commit is visible");
}

const CommittedOffset* GroupOffsets::fetch(const TopicPartition& partition) const {
  auto it = offsets_.find(partition);
  return it == offsets_.end() ? nullptr : &it->second;
}

// Kafka's OffsetExpirationConditionImpl.isOffsetExpired.
std::vector<OffsetsRecord> GroupOffsets::expired(const std::optional<OffsetExpiry>& expiry,
                                                 int64_t now_ms,
                                                 std::chrono::milliseconds retention) const {
  std::vector<OffsetsRecord> tombstones;
  if (!expiry) return tombstones;
  for (const auto& [partition, offset] : offsets_) {
    bool is_expired = false;
    if (offset.expire_timestamp_ms) {
      is_expired = now_ms >= *offset.expire_timestamp_ms;
    } else {
      const int64_t base = expiry->base_timestamp_ms.value_or(offset.commit_timestamp_ms);
      is_expired = now_ms - base >= retention.count();
    }
    if (is_expired) tombstones.push_back(delete_record(partition));
  }
  return tombstones;
}

}  // namespace weir::group
