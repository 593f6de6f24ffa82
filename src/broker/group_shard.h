// GroupShard: the classic groups of one __consumer_offsets partition this broker leads,
// as the group coordinator (api_group.cc) drives them. The rules are the pure state
// machines of src/group (ClassicGroup, GroupOffsets); a shard only holds them and
// routes their effects: replies to the requests waiting on a token's slot, records to
// append to its partition (one persist fiber, in order), and the earliest deadline to
// its timer fiber.
//
// Lifecycle: created loading when reconciliation makes this broker the partition's
// leader (in `epoch`, which is also every group's coordinator epoch); loaded once the
// partition's log was replayed into groups and offsets; inactive once leadership moved
// or the broker stops — every slot was then answered (NOT_COORDINATOR) and the fibers
// end. A shard is never reactivated: a new leadership builds a new one.
//
// Invariants:
//  - A slot is answered exactly once: it leaves `slots` before its function runs.
//  - Offsets change only by replaying records that are committed in the partition
//    (GroupOffsets::replay after the append's high watermark passed them, or on load).
//  - Groups and offsets live in ordered maps: nothing depends on hash order.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/btree_map.h>

#include "base/ids.h"
#include "group/classic_group.h"
#include "group/consumer_group.h"
#include "group/offsets.h"
#include "metadata/topic_name.h"
#include "runtime/sync.h"

namespace weir::broker {

// Kafka's internal topic of group metadata and committed offsets.
inline constexpr std::string_view kOffsetsTopic = metadata::kConsumerOffsetsTopic;

// A KIP-848 group's record as last handed to the persist fiber (api_consumer_group.cc).
struct WrittenRecord {
  // The value as written (compared, not encoded: the append encodes it once); nullopt:
  // a tombstone.
  std::optional<group::RecordValue> value;
  // An append that carried this key failed: it may or may not have landed, so the
  // next append writes the key again whatever it holds.
  bool uncertain = false;
};

// One group as the coordinator keeps it: its membership state machine and its
// committed offsets. A group known only by its offsets (simple commits, or one whose
// metadata record was never written) has an Empty ClassicGroup. A KIP-848 group
// (ConsumerGroupHeartbeat) has a ConsumerGroup too, and while it has members the
// classic apis treat the group as another protocol's.
struct CoordinatedGroup {
  std::unique_ptr<group::ClassicGroup> group;
  group::GroupOffsets offsets;
  std::unique_ptr<group::ConsumerGroup> consumer;
  // The consumer group's records as appended (or queued), by key: what the next append
  // must change to match ConsumerGroup::records(). A key leaves once its tombstone is
  // queued, unless that append fails.
  absl::btree_map<group::ConsumerGroupKey, WrittenRecord> consumer_written;

  bool is_consumer_group() const { return consumer != nullptr; }
  bool consumer_members() const { return consumer != nullptr && !consumer->empty(); }
};

struct GroupShard;

// Records to append to the shard's partition as one batch, and what to do with the
// outcome (nullopt: committed, i.e. below the high watermark).
struct PersistItem {
  std::vector<group::OffsetsRecord> records;
  // Runs on the persist fiber with the shard the records were for (maybe unloaded
  // meanwhile: then the failure is not_coordinator).
  std::function<void(GroupShard&, std::optional<group::PersistFailure>)> done;
};

struct GroupShard {
  GroupShard(runtime::Scheduler& scheduler, int32_t partition, LeaderEpoch epoch)
      : partition(partition), epoch(epoch), loaded_event(scheduler) {}

  const int32_t partition;
  const LeaderEpoch epoch;
  bool loaded = false;
  runtime::Instant loaded_at{};
  bool active = true;
  runtime::Event loaded_event;
  absl::btree_map<std::string, CoordinatedGroup> groups;
  // Requests waiting for a group's answer, by the token they went in with: called with
  // the group's response, or with nullptr and the error to answer instead.
  absl::btree_map<group::Token, std::function<void(const group::Response*, protocol::ErrorCode)>>
      slots;
  uint64_t next_token = 1;
  // Appends waiting for the persist fiber, in order.
  std::deque<PersistItem> persists;
  // The persist fiber is appending an item taken from `persists`.
  bool appending = false;
  runtime::WaitQueue persist_wake;
  // The timer fiber sleeps until `timer_deadline`; an earlier deadline wakes it.
  runtime::Instant timer_deadline = runtime::Instant::max();
  runtime::WaitQueue timer_wake;
};

}  // namespace weir::broker
