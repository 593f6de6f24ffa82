// Produce, Fetch, ListOffsets and DeleteRecords: the data path.
#include <algorithm>

#include <fmt/format.h>

#include "broker/broker.h"
#include "metadata/topic_name.h"
#include "record/batch.h"
#include "replication/epoch_rules.h"
#include "txn/producer_state.h"

namespace weir::broker {

using protocol::error_value;
using protocol::ErrorCode;

namespace {

// ListOffsets' special timestamps (Kafka's ListOffsetsRequest).
constexpr int64_t kLatestTimestamp = -1;
constexpr int64_t kEarliestTimestamp = -2;
constexpr int64_t kMaxTimestamp = -3;
constexpr int64_t kEarliestLocalTimestamp = -4;

constexpr int8_t kReadCommitted = 1;
// zstd came with KIP-110: Produce v7 and Fetch v10 are the first versions whose
// clients may send and read it; older ones get UNSUPPORTED_COMPRESSION_TYPE.
constexpr int16_t kProduceZstdVersionMin = 7;
constexpr int16_t kFetchZstdVersionMin = 10;

// Whether any batch in `records` (whole batches back to back, already validated) is
// zstd-compressed; reads only the headers.
bool holds_zstd(std::span<const uint8_t> records) {
  size_t position = 0;
  while (position < records.size()) {
    auto header = record::read_batch_header(records.subspan(position));
    if (!header) return false;
    if (header->compression() == record::Compression::zstd) return true;
    position += header->size_bytes();
  }
  return false;
}

// An appended partition whose acknowledgement waits for durability.
struct Appended {
  std::shared_ptr<Partition> partition;
  std::shared_ptr<storage::PartitionLog> log;
  Offset end;  // one past the last offset appended
  LeaderEpoch epoch;  // the leadership that appended it
  protocol::ProduceResponse::PartitionProduceResponse* response;
};

}  // namespace

Result<std::shared_ptr<Partition>, ErrorCode> Broker::led_partition(std::string_view topic,
                                                                    int32_t index) {
  const metadata::TopicImage* known = link_.image().topic(topic);
  if (known == nullptr || index < 0 || static_cast<size_t>(index) >= known->partitions.size()) {
    return unexpected(ErrorCode::unknown_topic_or_partition);
  }
  // Led here once reconciliation made this node its leader (its epoch assigned): the
  // image may say so a moment earlier, and then the epoch batches are stamped with
  // would not be the leader's yet.
  std::shared_ptr<Partition> partition = topics_.partition(topic, index);
  if (partition == nullptr || !partition->leader) {
    return unexpected(ErrorCode::not_leader_or_follower);
  }
  return partition;
}

ErrorCode Broker::commit(Partition& partition, std::shared_ptr<storage::PartitionLog> log,
                         Offset end, LeaderEpoch epoch, int16_t acks, runtime::Instant deadline) {
  if (partition.flush.fsync_before_ack && !hooks_.ack_before_fsync) {
    if (auto durable = log->wait_durable(end); !durable) {
      return storage_error(partition, durable.error());
    }
  }
  // The log may have been swapped by recovery meanwhile; only the log this append
  // went to says what is durable. Only the leadership that appended the batch may
  // count it: a later one may have truncated it and taken other records at its offsets.
  auto same_leadership = [&] {
    return partition.leader && partition.leader->leader_epoch() == epoch &&
           partition.log_handle() == log;
  };
  if (same_leadership()) {
    partition.leader->on_local_end(log->log_end_offset(), counted_end(partition, *log),
                                   env_.clock.now());
    sync_high_watermark(partition);
  }
  if (acks != -1 || hooks_.ack_on_leader) return ErrorCode::none;
  // acks=all: once the high watermark passes the batch, every replica of the ISR has it.
  while (true) {
    if (!same_leadership()) return ErrorCode::not_leader_or_follower;
    switch (partition.leader->ack_state(end)) {
      case replication::AckState::done: return ErrorCode::none;
      case replication::AckState::not_enough_replicas_after_append:
        return ErrorCode::not_enough_replicas_after_append;
      case replication::AckState::waiting: break;
    }
    if (stopping_ || env_.clock.now() >= deadline) return ErrorCode::request_timed_out;
    partition.waiters().add(env_.scheduler.prepare_wait());
    // Also wakes to look at leadership and shutdown, which notify nothing here.
    env_.scheduler.suspend(std::min(deadline, env_.clock.now() + runtime::milliseconds(100)));
  }
}

Reply Broker::produce(const protocol::RequestHeader& header, protocol::ProduceRequest&& request) {
  auto response = std::make_shared<protocol::ProduceResponse>();
  std::vector<Appended> appended;
  const bool acks_valid = request.acks == -1 || request.acks == 0 || request.acks == 1;
  for (auto& topic_data : request.topic_data) {
    auto& topic_response = response->responses.emplace_back();
    topic_response.name = topic_data.name;
    topic_response.partition_responses.reserve(topic_data.partition_data.size());
    for (auto& data : topic_data.partition_data) {
      auto& result = topic_response.partition_responses.emplace_back();
      result.index = data.index;
      result.base_offset = -1;
      auto fail = [&](ErrorCode code, std::optional<std::string> message = std::nullopt) {
        result.error_code = error_value(code);
        result.error_message = std::move(message);
      };
      if (!acks_valid) {
        fail(ErrorCode::invalid_required_acks);
        continue;
      }
      if (request.transactional_id) {
        fail(ErrorCode::transactional_id_authorization_failed,
             "weir does not serve transactions yet");
        continue;
      }
      if (metadata::is_internal_topic(topic_data.name)) {
        // The coordinator's records, in the coordinator's formats: a client's batch
        // there would be replayed as group state (Kafka refuses it the same way).
        fail(ErrorCode::invalid_topic_exception,
             fmt::format("cannot append to internal topic {}", topic_data.name));
        continue;
      }
      auto led = led_partition(topic_data.name, data.index);
      if (!led) {
        fail(led.error());
        continue;
      }
      std::shared_ptr<Partition> partition = std::move(*led);
      if (partition->recovering) {
        fail(ErrorCode::kafka_storage_error, "the partition's log is being recovered");
        continue;
      }
      if (!data.records || data.records->empty()) {
        fail(ErrorCode::corrupt_message, "no record batches");
        continue;
      }
      if (header.api_version < kProduceZstdVersionMin && holds_zstd(*data.records)) {
        fail(ErrorCode::unsupported_compression_type,
             fmt::format("zstd batches need Produce v{} or later", kProduceZstdVersionMin));
        continue;
      }
      std::optional<Offset> end;
      auto log = append(partition, *data.records, request.acks, result, end);
      if (!log) continue;
      // append() checked the leadership after its last suspension.
      const LeaderEpoch epoch = partition->leader->leader_epoch();
      appended.push_back(Appended{std::move(partition), std::move(log), *end, epoch, &result});
    }
  }
  if (appended.empty()) {
    if (request.acks == 0) return Reply::none();
    return Reply{protocol::ResponseBody(std::move(*response)), std::nullopt};
  }
  // The rest waits for durability, off the connection's reader so the next request's
  // append can join the same fsync (group commit).
  auto promise = std::make_shared<runtime::Promise<protocol::ResponseBody>>(env_.scheduler);
  auto future = promise->future();
  const bool respond = request.acks != 0;
  const int16_t acks = request.acks;
  const runtime::Instant deadline =
      env_.clock.now() + runtime::milliseconds(std::max<int32_t>(request.timeout_ms, 0));
  spawn("produce-commit",
        [this, response, appended = std::move(appended), promise, respond, acks,
         deadline]() mutable {
          for (const Appended& entry : appended) {
            ErrorCode code =
                commit(*entry.partition, entry.log, entry.end, entry.epoch, acks, deadline);
            if (code != ErrorCode::none) {
              entry.response->error_code = error_value(code);
              entry.response->base_offset = -1;
            }
          }
          if (respond) promise->set(protocol::ResponseBody(std::move(*response)));
        });
  if (!respond) return Reply::none();
  return Reply{std::nullopt, std::move(future)};
}

std::shared_ptr<storage::PartitionLog> Broker::append(
    const std::shared_ptr<Partition>& partition, std::span<uint8_t> records, int16_t acks,
    protocol::ProduceResponse::PartitionProduceResponse& result, std::optional<Offset>& end) {
  auto fail = [&](ErrorCode code, std::string message) {
    result.error_code = error_value(code);
    result.error_message = std::move(message);
  };
  auto batches = record::split_batches(records);
  if (!batches) {
    fail(ErrorCode::corrupt_message, "the records are not well-formed record batches");
    return nullptr;
  }
  std::vector<txn::ProducerBatch> producer_batches;
  producer_batches.reserve(batches->size());
  for (const auto& batch : *batches) {
    producer_batches.push_back(txn::ProducerBatch::from_header(batch.header));
  }
  runtime::MutexGuard guard(partition->append_mutex);
  if (partition->recovering) {
    fail(ErrorCode::kafka_storage_error, "the partition's log is being recovered");
    return nullptr;
  }
  // The partition's epoch comes from the image as soon as it is reconciled; its
  // LeaderState ends a moment later. In between this node is a deposed leader and must
  // not append — least of all stamped with its successor's epoch, which would make its
  // records look like the new leader's to every divergence check.
  if (!partition->leader || (partition->leader->leader_epoch() != partition->leader_epoch() &&
                             !hooks_.stamp_successor_epoch)) {
    fail(ErrorCode::not_leader_or_follower, "leadership moved while the request waited");
    return nullptr;
  }
  if (auto refused = partition->leader->admit(acks)) {
    fail(*refused, fmt::format("the in-sync replicas are fewer than min.insync.replicas={}",
                               partition->leader->effective_min_isr()));
    return nullptr;
  }
  auto log = partition->log_handle();
  auto [check, index] = partition->producers().check_all(producer_batches);
  if (check.verdict == txn::Verdict::duplicate && batches->size() == 1) {
    // A retry of a batch already in the log: success, with the offsets it got then.
    result.base_offset = check.duplicate_first_offset.value();
    result.log_start_offset = log->log_start_offset().value();
    end = check.duplicate_last_offset + 1;
    return log;
  }
  if (!check.accepted()) {
    const ErrorCode code = check.verdict == txn::Verdict::duplicate
                               ? ErrorCode::duplicate_sequence_number
                               : static_cast<ErrorCode>(txn::kafka_error_code(check.verdict));
    fail(code, fmt::format("batch {}: {}", index, txn::to_string(check.verdict)));
    return nullptr;
  }
  const size_t segments = log->segment_count();
  const LeaderEpoch epoch =
      hooks_.stamp_successor_epoch ? partition->leader_epoch() : partition->leader->leader_epoch();
  auto appended = log->append(records, epoch);
  if (!appended) {
    fail(storage_error(*partition, appended.error()),
         std::string(storage::to_string(appended.error())));
    return nullptr;
  }
  // The batches now carry their offsets.
  (void)partition->producers().record_appended(records);
  // Whatever happens next, these batches are in the log as this leader wrote them.
  if (hooks_.on_leader_append) {
    hooks_.on_leader_append(partition->topic(), partition->index(), records);
  }
  // The append suspended (group commit): leadership may have moved meanwhile. The
  // records are in the log, where the next leader's truncation decides their fate.
  if (!partition->leader ||
      (partition->leader->leader_epoch() != epoch && !hooks_.stamp_successor_epoch)) {
    fail(ErrorCode::not_leader_or_follower, "leadership moved while the batch was appended");
    return nullptr;
  }
  partition->leader->on_local_end(log->log_end_offset(), counted_end(*partition, *log),
                                  env_.clock.now());
  sync_high_watermark(*partition);
  // Followers long-polling for more wake now.
  partition->waiters().notify_all();
  result.base_offset = appended->base_offset.value();
  result.log_append_time_ms = appended->log_append_time;
  result.log_start_offset = log->log_start_offset().value();
  end = appended->last_offset + 1;
  if (log->segment_count() > segments) {
    // Kafka snapshots producer state at each roll, so recovery replays one segment.
    std::shared_ptr<Partition> held = partition;
    // Holds the producer state and the log it refers to, taken together: a recovery may
    // replace both while the snapshot is written.
    spawn("producer-snapshot",
          [held = std::pair(partition->producers_handle(), partition->log_handle())] {
            (void)held.first->take_snapshot();
          });
  }
  if (!partition->flush.fsync_before_ack) {
    partition->unflushed_messages += (appended->last_offset - appended->base_offset) + 1;
    if (partition->unflushed_messages >= partition->flush.flush_interval_messages) {
      partition->unflushed_messages = 0;
      std::shared_ptr<Partition> held = partition;
      spawn("flush", [this, held, log] {
        if (auto flushed = log->flush(); !flushed) storage_error(*held, flushed.error());
      });
    }
  }
  return log;
}

namespace {

struct FetchTarget {
  std::shared_ptr<Partition> partition;  // null when there is nothing to read
  protocol::FetchResponse::PartitionData* response;
  Offset fetch_offset;
  int32_t max_bytes;
  bool answered = false;  // a divergence or an error: answer at once, read nothing
};

// KIP-320: a fetch naming a leader epoch must name this leader's; an older one is a
// fetcher behind the image (FENCED_LEADER_EPOCH), a newer one a leader behind it
// (UNKNOWN_LEADER_EPOCH, retried).
std::optional<ErrorCode> check_leader_epoch(int32_t asked, LeaderEpoch current) {
  if (asked == -1 || LeaderEpoch(asked) == current) return std::nullopt;
  return LeaderEpoch(asked) < current ? ErrorCode::fenced_leader_epoch
                                      : ErrorCode::unknown_leader_epoch;
}

}  // namespace

Reply Broker::fetch(const protocol::RequestHeader& header, protocol::FetchRequest&& request) {
  auto response = std::make_shared<protocol::FetchResponse>();
  // Fetch sessions (KIP-227): weir answers every fetch in full and creates no session;
  // session id 0 in the answer tells the client so, and it keeps sending full fetches.
  if (request.session_id != 0 && request.session_epoch != -1) {
    response->error_code = error_value(ErrorCode::fetch_session_id_not_found);
    return Reply{protocol::ResponseBody(std::move(*response)), std::nullopt};
  }
  auto targets = std::make_shared<std::vector<FetchTarget>>();
  const bool by_id = header.api_version >= 13;
  // A follower's fetch (KIP-903: its id and broker epoch in replica_state from v15).
  const NodeId replica(header.api_version >= 15 ? request.replica_state.replica_id
                                                : request.replica_id);
  const metadata::BrokerEpoch replica_epoch(
      header.api_version >= 15 ? request.replica_state.replica_epoch : -1);
  const bool from_follower = replica >= NodeId(0);
  for (const auto& topic : request.topics) {
    auto& topic_response = response->responses.emplace_back();
    topic_response.topic = topic.topic;
    topic_response.topic_id = topic.topic_id;
    const metadata::TopicImage* known = by_id
                                            ? link_.image().topic(metadata::TopicId{topic.topic_id})
                                            : link_.image().topic(topic.topic);
    topic_response.partitions.reserve(topic.partitions.size());
    for (const auto& p : topic.partitions) {
      auto& result = topic_response.partitions.emplace_back();
      result.partition_index = p.partition;
      result.high_watermark = -1;
      result.records = protocol::Bytes{};
      std::shared_ptr<Partition> partition;
      if (known == nullptr) {
        result.error_code = error_value(by_id ? ErrorCode::unknown_topic_id
                                              : ErrorCode::unknown_topic_or_partition);
      } else if (auto led = led_partition(known->name, p.partition); !led) {
        result.error_code = error_value(led.error());
      } else if (auto fenced = check_leader_epoch(p.current_leader_epoch,
                                                  (*led)->leader_epoch())) {
        result.error_code = error_value(*fenced);
      } else {
        partition = std::move(*led);
      }
      FetchTarget target{std::move(partition), &result, Offset{p.fetch_offset},
                         p.partition_max_bytes};
      if (target.partition && from_follower) {
        follower_fetched(target.partition, replica, replica_epoch, p, result, target.answered);
      }
      targets->push_back(std::move(target));
    }
  }
  // Reads what is available; returns the bytes read and whether any partition failed.
  const bool zstd_readable = header.api_version >= kFetchZstdVersionMin;
  auto read_all = [this, targets, response, max_bytes = request.max_bytes, zstd_readable,
                   from_follower]() {
    int64_t total = 0;
    bool failed = false;
    for (FetchTarget& target : *targets) {
      if (!target.partition || target.answered) {
        failed = true;
        continue;
      }
      Partition& partition = *target.partition;
      auto& result = *target.response;
      if (partition.recovering) {
        result.error_code = error_value(ErrorCode::kafka_storage_error);
        failed = true;
        continue;
      }
      auto log = partition.log_handle();
      const Offset high_watermark = partition.high_watermark();
      result.error_code = error_value(ErrorCode::none);
      result.high_watermark = high_watermark.value();
      result.last_stable_offset = high_watermark.value();
      result.log_start_offset = log->log_start_offset().value();
      if (target.fetch_offset < log->log_start_offset() ||
          target.fetch_offset > log->log_end_offset()) {
        result.error_code = error_value(ErrorCode::offset_out_of_range);
        failed = true;
        continue;
      }
      // Consumers read what is committed; followers up to the log end.
      const Offset limit = from_follower || hooks_.serve_past_high_watermark ? log->log_end_offset()
                                                                             : high_watermark;
      if (target.fetch_offset >= limit) continue;
      // Kafka's rule: the first batch of the response comes whole even if larger than
      // the limits; after that, the response's max_bytes bounds what is added.
      int64_t budget = std::min<int64_t>(target.max_bytes, int64_t{max_bytes} - total);
      if (total > 0 && budget <= 0) continue;
      auto bytes = log->read(target.fetch_offset, static_cast<size_t>(std::max<int64_t>(budget, 1)),
                             limit);
      if (!bytes) {
        result.error_code = error_value(storage_error(partition, bytes.error()));
        failed = true;
        continue;
      }
      if (!zstd_readable && holds_zstd(*bytes)) {
        // Kafka does not down-convert zstd for an old fetcher: it refuses the partition.
        result.error_code = error_value(ErrorCode::unsupported_compression_type);
        failed = true;
        continue;
      }
      total += static_cast<int64_t>(bytes->size());
      result.records = std::move(*bytes);
    }
    return std::pair<int64_t, bool>{total, failed};
  };
  auto [bytes, failed] = read_all();
  if (failed || bytes >= request.min_bytes || request.max_wait_ms <= 0 || stopping_) {
    return Reply{protocol::ResponseBody(std::move(*response)), std::nullopt};
  }
  // A long poll: wait for any partition's high watermark to move, up to max_wait_ms.
  auto promise = std::make_shared<runtime::Promise<protocol::ResponseBody>>(env_.scheduler);
  auto future = promise->future();
  const runtime::Instant deadline = env_.clock.now() + runtime::milliseconds(request.max_wait_ms);
  const int32_t min_bytes = request.min_bytes;
  // A follower's long poll ends early when its leader checks its leadership.
  auto nudges = [targets, from_follower] {
    uint64_t sum = 0;
    for (const FetchTarget& target : *targets) {
      if (target.partition && from_follower) sum += target.partition->fetch_nudges;
    }
    return sum;
  };
  spawn("fetch-wait", [this, targets, response, read_all, deadline, min_bytes, promise, nudges,
                       parked = nudges()]() mutable {
    while (!stopping_ && env_.clock.now() < deadline && nudges() == parked) {
      runtime::Waker waker = env_.scheduler.prepare_wait();
      for (FetchTarget& target : *targets) {
        if (target.partition) target.partition->waiters().add(waker);
      }
      // Shutdown must not wait out a long poll: wake at least every 100 ms to look.
      env_.scheduler.suspend(std::min(deadline, env_.clock.now() + runtime::milliseconds(100)));
      auto [total, any_failed] = read_all();
      if (any_failed || total >= min_bytes) break;
    }
    promise->set(protocol::ResponseBody(std::move(*response)));
  });
  return Reply{std::nullopt, std::move(future)};
}

void Broker::follower_fetched(const std::shared_ptr<Partition>& partition, NodeId replica,
                              metadata::BrokerEpoch replica_epoch,
                              const protocol::FetchRequest::FetchPartition& asked,
                              protocol::FetchResponse::PartitionData& result, bool& answered) {
  replication::LeaderState& leader = *partition->leader;
  auto fail = [&](ErrorCode code) {
    result.error_code = error_value(code);
    answered = true;
  };
  if (!leader.followers().contains(replica)) {
    // Not a replica of this partition (an old assignment): the image will tell it.
    fail(ErrorCode::not_leader_or_follower);
    return;
  }
  if (partition->recovering) return;  // the read answers KAFKA_STORAGE_ERROR
  auto log = partition->log_handle();
  const Offset leader_end = log->log_end_offset();
  result.high_watermark = partition->high_watermark().value();
  result.log_start_offset = log->log_start_offset().value();
  replication::PositionCheck check = replication::check_follower_position(
      log->leader_epochs(), log->log_start_offset(), leader_end, Offset(asked.fetch_offset),
      LeaderEpoch(asked.last_fetched_epoch));
  if (hooks_.skip_divergence_check && check.kind == replication::PositionCheck::Kind::diverging &&
      Offset(asked.fetch_offset) <= leader_end) {
    check.kind = replication::PositionCheck::Kind::fetch;  // the planted flaw: offsets only
  }
  switch (check.kind) {
    case replication::PositionCheck::Kind::diverging:
      result.diverging_epoch.epoch = check.diverging.epoch.value();
      result.diverging_epoch.end_offset = check.diverging.end_offset.value();
      answered = true;
      return;
    case replication::PositionCheck::Kind::out_of_range:
      fail(ErrorCode::offset_out_of_range);
      return;
    case replication::PositionCheck::Kind::fetch: break;
  }
  // Its fetch offset is its log end (a follower fetches again only once what it has is
  // as durable as its flush policy makes it): progress, maybe a new high watermark,
  // maybe an ISR expansion to propose.
  auto proposal = leader.on_follower_fetch(replica, replica_epoch, Offset(asked.fetch_offset),
                                           leader_end, env_.clock.now());
  sync_high_watermark(*partition);
  result.high_watermark = partition->high_watermark().value();
  if (proposal) send_isr_proposal(partition, std::move(*proposal));
}

protocol::ResponseBody Broker::list_offsets(const protocol::RequestHeader& header,
                                            const protocol::ListOffsetsRequest& request) {
  protocol::ListOffsetsResponse response;
  for (const auto& topic : request.topics) {
    auto& topic_response = response.topics.emplace_back();
    topic_response.name = topic.name;
    for (const auto& p : topic.partitions) {
      auto& result = topic_response.partitions.emplace_back();
      result.partition_index = p.partition_index;
      auto led = led_partition(topic.name, p.partition_index);
      if (!led) {
        result.error_code = error_value(led.error());
        continue;
      }
      std::shared_ptr<Partition> partition = std::move(*led);
      if (partition->recovering) {
        result.error_code = error_value(ErrorCode::kafka_storage_error);
        continue;
      }
      if (auto fenced = check_leader_epoch(p.current_leader_epoch, partition->leader_epoch())) {
        result.error_code = error_value(*fenced);
        continue;
      }
      auto log = partition->log_handle();
      result.leader_epoch = partition->leader_epoch().value();
      // Without transactions the last stable offset is the high watermark, so both
      // isolation levels see the same end; a replica asking (a follower finding where
      // the leader's log ends) sees the log end.
      const Offset end =
          request.replica_id >= 0 ? log->log_end_offset() : partition->high_watermark();
      // A new leader's high watermark starts where it knew it as a follower (or at the
      // log start after a restart: it is not checkpointed) and may be below what the
      // previous leader had committed; until it reaches the start of this leader's
      // epoch, the latest offset is not known (Kafka's OFFSET_NOT_AVAILABLE, retried).
      if (request.replica_id < 0 && p.timestamp != kEarliestTimestamp &&
          p.timestamp != kEarliestLocalTimestamp && partition->leader &&
          partition->leader->high_watermark() < partition->leader->epoch_start()) {
        result.error_code = error_value(ErrorCode::offset_not_available);
        continue;
      }
      (void)kReadCommitted;
      switch (p.timestamp) {
        case kLatestTimestamp: result.offset = end.value(); break;
        case kEarliestTimestamp:
        case kEarliestLocalTimestamp: result.offset = log->log_start_offset().value(); break;
        case kMaxTimestamp: {
          // The record with the largest timestamp: scan the batch headers once.
          int64_t best_timestamp = -1;
          int64_t best_offset = -1;
          Offset position = log->log_start_offset();
          while (position < end) {
            auto bytes = log->read(position, 1 << 20, end);
            if (!bytes || bytes->empty()) break;
            auto batches = record::split_batches(*bytes);
            if (!batches || batches->empty()) break;
            for (const auto& batch : *batches) {
              if (batch.header.max_timestamp > best_timestamp) {
                best_timestamp = batch.header.max_timestamp;
                // Kafka answers the batch's last offset when it cannot tell which
                // record holds the maximum without decompressing.
                best_offset = batch.header.last_offset().value();
              }
              position = batch.header.last_offset() + 1;
            }
          }
          result.timestamp = best_timestamp;
          result.offset = best_offset;
          break;
        }
        default: {
          if (p.timestamp < 0) {
            result.error_code = error_value(ErrorCode::invalid_request);
            break;
          }
          auto found = log->offset_for_timestamp(p.timestamp);
          if (!found) {
            result.error_code = error_value(storage_error(*partition, found.error()));
          } else if (*found && (*found)->offset < end) {
            result.timestamp = (*found)->timestamp;
            result.offset = (*found)->offset.value();
          }
          break;
        }
      }
    }
  }
  return response;
}

protocol::ResponseBody Broker::delete_records(const protocol::DeleteRecordsRequest& request) {
  protocol::DeleteRecordsResponse response;
  for (const auto& wanted : request.topics) {
    protocol::DeleteRecordsResponse::DeleteRecordsTopicResult topic_result;
    topic_result.name = wanted.name;
    for (const auto& p : wanted.partitions) {
      protocol::DeleteRecordsResponse::DeleteRecordsPartitionResult result;
      result.partition_index = p.partition_index;
      result.low_watermark = -1;
      auto led = led_partition(wanted.name, p.partition_index);
      std::shared_ptr<Partition> partition = led ? *led : nullptr;
      if (!led) {
        result.error_code = error_value(led.error());
      } else if (partition->recovering) {
        result.error_code = error_value(ErrorCode::kafka_storage_error);
      } else {
        // -1 means "up to the high watermark" (Kafka's DeleteRecordsRequest.HIGH_WATERMARK).
        const Offset target = p.offset == -1 ? partition->high_watermark() : Offset{p.offset};
        auto log = partition->log_handle();
        if (target < Offset{0} || target > partition->high_watermark()) {
          result.error_code = error_value(ErrorCode::offset_out_of_range);
        } else if (auto deleted = log->delete_records(target); !deleted) {
          result.error_code = error_value(storage_error(*partition, deleted.error()));
        } else {
          result.low_watermark = log->log_start_offset().value();
        }
      }
      topic_result.partitions.push_back(result);
    }
    response.topics.push_back(std::move(topic_result));
  }
  return response;
}

}  // namespace weir::broker
