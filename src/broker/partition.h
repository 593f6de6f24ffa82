// Partition: one partition this node hosts — its log, its producers' state, the high
// watermark clients may read below, the fibers waiting for the log to move (Fetch long
// polls, a leader's followers), and this node's part in its replication: the leader's
// view of its followers while it leads (replication::LeaderState, whose high
// watermark this one follows), or the leader it fetches from while it follows. Both
// are set only by reconciliation with the metadata image (broker/replication.cc), in
// the leader epoch the image names, which also stamps the batches a leader appends.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "config/topic_config.h"
#include "record/types.h"
#include "replication/leader_state.h"
#include "runtime/sync.h"
#include "storage/partition_log.h"
#include "txn/partition_producer_state.h"

namespace weir::broker {

using record::LeaderEpoch;
using record::Offset;

class Partition : public std::enable_shared_from_this<Partition> {
 public:
  Partition(runtime::Scheduler& scheduler, std::string topic, int32_t index,
            std::shared_ptr<storage::PartitionLog> log,
            std::unique_ptr<txn::PartitionProducerState> producers, config::FlushPolicy flush)
      : flush(flush), append_mutex(scheduler), topic_(std::move(topic)), index_(index),
        log_(std::move(log)), producers_(std::move(producers)) {}

  const std::string& topic() const { return topic_; }
  int32_t index() const { return index_; }
  storage::PartitionLog& log() { return *log_; }
  const storage::PartitionLog& log() const { return *log_; }
  // A request that suspends holds the log it started on: recovery may swap in a new one.
  std::shared_ptr<storage::PartitionLog> log_handle() const { return log_; }
  txn::PartitionProducerState& producers() { return *producers_; }
  // A fiber that suspends inside the producer state holds it: recovery may replace it.
  std::shared_ptr<txn::PartitionProducerState> producers_handle() const { return producers_; }
  // Recovery's fresh log and the producer state rebuilt over it.
  void replace_log(std::shared_ptr<storage::PartitionLog> log,
                   std::unique_ptr<txn::PartitionProducerState> producers) {
    producers_ = std::move(producers);
    log_ = std::move(log);
  }
  LeaderEpoch leader_epoch() const { return leader_epoch_; }
  // The metadata image moved leadership (cluster mode): epochs only grow.
  void set_leader_epoch(LeaderEpoch epoch) {
    if (epoch > leader_epoch_) leader_epoch_ = epoch;
  }

  Offset high_watermark() const { return log_->high_watermark(); }
  // Raises the high watermark (never lowers it) and wakes waiting fetches.
  void advance_high_watermark(Offset offset) {
    if (offset <= log_->high_watermark()) return;
    log_->set_high_watermark(offset);
    waiters_.notify_all();
  }
  // Fetch long polls subscribe here; they are woken when the high watermark moves or
  // the log grows (followers read up to the log end).
  runtime::WaitQueue& waiters() { return waiters_; }

  // --- replication (set by reconciliation only) ---
  // While this node leads the partition in leader_epoch(): the leader's state.
  std::optional<replication::LeaderState> leader;
  // While it follows: the leader it fetches from (in leader_epoch()).
  std::optional<NodeId> following;
  // An AlterPartition of the leader's is on its way to the controller.
  bool proposal_sending = false;
  // The last AlterPartition sent: a LeaderState that replaces the sender's in the same
  // leader and partition epoch (after a recovery) resumes it, as the controller may
  // still commit it (LeaderState::resume_proposal).
  std::optional<replication::IsrProposal> last_proposal;
  // The topic's min.insync.replicas, and whether this node is its only replica (the
  // whole log is then committed once durable, as a lone node's always was).
  int32_t min_insync_replicas = 1;
  bool sole_replica = true;

  // flush.messages / flush.ms of the topic.
  config::FlushPolicy flush;
  // Messages appended since the last flush, for flush.messages > 1.
  int64_t unflushed_messages = 0;
  runtime::Instant last_flush;
  // Set while a log the disk failed under is being closed and recovered: the partition
  // is offline (KAFKA_STORAGE_ERROR) until recovery succeeds.
  bool recovering = false;
  // A recovery fiber is running (it retries until the disk lets it open the log).
  bool recovery_running = false;
  // Bumped when the leader wants its followers to fetch again at once (a leadership
  // check): a parked follower fetch answers as it is.
  uint64_t fetch_nudges = 0;
  // Held from the producer-state check to its record: a retried batch arriving on
  // another connection must not pass the check while the first is being appended.
  runtime::Mutex append_mutex;

 private:
  std::string topic_;
  int32_t index_;
  LeaderEpoch leader_epoch_{0};
  std::shared_ptr<storage::PartitionLog> log_;
  std::shared_ptr<txn::PartitionProducerState> producers_;
  runtime::WaitQueue waiters_;
};

}  // namespace weir::broker
