// Kafka's durability contracts over a replicated topic's log history: which losses the
// settings a write was made under permit, and which events of the run permitted each.
//
// A write promised by its acknowledgement may still be lost, and Kafka says when:
//  - acks=0: nothing was promised (the client counts no such write acknowledged);
//  - acks=1: the leader that acknowledged it was replaced before a follower copied it;
//  - an unclean election (unclean.leader.election.enable on for the topic) chose a
//    replica that lacked it;
//  - the topic does not fsync before acknowledging (flush.messages > 1) and every
//    replica lost power after it was written.
// check_log_contracts judges every loss by these rules: a loss that one of them
// explains is reported with its explanation; a loss none explains fails the seed. The
// same rules judge reads that the final log contradicts (a consumer saw a committed
// record that later vanished), consumers whose offsets went backwards, and duplicates
// (permitted only to a producer without idempotence). An unclean election on a topic
// whose config forbids it fails by itself.
//
// The events come from the workload: when each leadership began and ended as the
// brokers saw it, which leader epochs were elected uncleanly, and when nodes lost
// power. A leadership ends when its broker first reconciles to a later epoch or goes
// down: until then it may acknowledge (as a zombie, unaware of its successor).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>

#include "runtime/clock.h"
#include "sim/checkers/log.h"
#include "sim/checkers/result.h"

namespace weir::sim::checkers {

// What a stream's writes were made under.
struct WriteContract {
  int16_t acks = -1;
  bool idempotent = true;
  bool fsync = true;             // flush.messages=1: acknowledged only once fsynced
  bool unclean_allowed = false;  // unclean.leader.election.enable for the topic
};

struct Leadership {
  int32_t broker = 0;
  int32_t leader_epoch = 0;
  runtime::Instant began;
  std::optional<runtime::Instant> ended;  // absent: still leading at the end
};

// What happened to one partition of the topic.
struct PartitionEvents {
  std::vector<Leadership> leaderships;
  // The leader epochs elected uncleanly, with when a controller first applied each.
  absl::btree_map<int32_t, runtime::Instant> unclean_elections;
  int32_t highest_epoch = 0;
  // When a leader took each broker (by id) into the ISR because it had caught up to
  // the high watermark: from then on it holds everything committed before.
  absl::btree_map<int32_t, std::vector<runtime::Instant>> isr_expansions;
  // When a controller first applied each leader epoch's election, and the epochs that
  // elected the last known leader (ISR and ELR empty: KIP-966's balanced recovery).
  absl::btree_map<int32_t, runtime::Instant> elected_at;
  absl::btree_set<int32_t> last_known_leader_elections;
};

struct ReplicationEvents {
  std::vector<PartitionEvents> partitions;  // partitions[p] is partition p
  // When each broker (by id) may have lost its unsynced writes: a power loss, or a disk
  // fault (a failed fsync forgets them; other failed I/O reopens a log from disk).
  absl::btree_map<int32_t, std::vector<runtime::Instant>> power_losses;
  // When the controllers applied each broker's (re-)registration: from then on they
  // know it restarted, and whether cleanly.
  absl::btree_map<int32_t, std::vector<runtime::Instant>> registrations;
};

// Epochs are a log's matching rule: one leader per leader epoch, and within an epoch an
// offset starts one batch. Two leaders in an epoch, or two batches at one offset of an
// epoch, leave replicas that agree on epochs but not on records — a divergence no
// truncation rule can find. The ledger takes every batch a leader appended and keeps
// the first few violations.
class EpochLedger {
 public:
  void record(int32_t partition, int32_t broker, int32_t leader_epoch, int64_t base_offset,
              int64_t last_offset, uint32_t crc);
  // Fails the result for each violation, prefixed by `name`.
  void check(const std::string& name, CheckResult& result) const;
  size_t batches() const { return batches_.size(); }

 private:
  struct Batch {
    int64_t last = 0;
    uint32_t crc = 0;
    int32_t broker = 0;
  };
  absl::btree_map<std::pair<int32_t, int32_t>, int32_t> leaders_;  // (partition, epoch)
  absl::btree_map<std::tuple<int32_t, int32_t, int64_t>, Batch> batches_;
  absl::btree_set<std::tuple<int32_t, int32_t, int32_t>> second_leaders_;  // reported
  std::vector<std::string> violations_;
};

enum class Permit { acks1_leader_replaced, unclean_election, unsynced_power_loss };
const char* to_string(Permit permit);

// What the contracts permitted in one stream, for the summary.
struct ContractReport {
  absl::btree_map<Permit, size_t> lost_writes;    // acknowledged writes lost, by permit
  absl::btree_map<Permit, size_t> changed_reads;  // positions read that later changed
  size_t plain_duplicates = 0;                    // values stored twice, no idempotence
  std::string summary() const;
};

// Why a write or read of `partition` at `since` may be lost, if anything permits it —
// an event after `since` and no later than `until`, when the loss was seen (a read that
// changed at `until` is not explained by a power loss after it).
std::optional<Permit> loss_permit(const WriteContract& contract, const ReplicationEvents& events,
                                  int32_t partition, runtime::Instant since,
                                  runtime::Instant until = runtime::Instant::max());

// Integrity, durability and reads of one stream's history (its final log set) under its
// contract. Permitted losses are noted on the result (shown for failing seeds and with
// --verbose); unpermitted ones fail it. `name` prefixes every line.
ContractReport check_log_contracts(const LogHistory& history, const WriteContract& contract,
                                   const ReplicationEvents& events, const std::string& name,
                                   CheckResult& result);

}  // namespace weir::sim::checkers
