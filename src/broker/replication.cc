// The broker's part in partition replication: the fibers around the pure state
// machines of src/replication. Reconciliation with the image sets each hosted
// partition's role (update_replication); a fetcher per source broker keeps the
// partitions this node follows up with their leaders (replica_fetch_loop); a leader's
// ISR proposals go to the controller as AlterPartition (send_isr_proposal) and the
// periodic ISR check runs from the background loop (replication_tick). The leader's
// side of a follower's fetch is in api_data.cc.
#include <algorithm>

#include <fmt/format.h>

#include "broker/broker.h"
#include "record/batch.h"
#include "replication/epoch_rules.h"

namespace weir::broker {

using protocol::error_value;
using protocol::ErrorCode;

namespace {

replication::EligibleBrokers eligible_brokers(const metadata::Image& image) {
  replication::EligibleBrokers eligible;
  for (const auto& [id, registration] : image.brokers()) {
    if (registration.is_active()) eligible.emplace(id, registration.epoch);
  }
  return eligible;
}

}  // namespace

Offset Broker::counted_end(const Partition& partition, const storage::PartitionLog& log) const {
  // Under the fsync policy a leader counts toward the high watermark only what it has
  // made durable, as its followers count only what they have.
  if (partition.flush.fsync_before_ack && !hooks_.ack_before_fsync) {
    return std::min(log.durable_end_offset(), log.log_end_offset());
  }
  return log.log_end_offset();
}

void Broker::sync_high_watermark(Partition& partition) {
  if (partition.leader) partition.advance_high_watermark(partition.leader->high_watermark());
}

replication::LeaderSettings Broker::leader_settings(const Partition& partition) const {
  replication::LeaderSettings settings;
  settings.replica_lag_max = runtime::milliseconds(settings_.config.replica_lag_time_max_ms);
  settings.min_insync_replicas = partition.min_insync_replicas;
  return settings;
}

void Broker::update_replication(const metadata::Image& image) {
  const NodeId self(settings_.config.node_id);
  const replication::EligibleBrokers eligible = eligible_brokers(image);
  // A leader epoch the image gives this node may be one an earlier incarnation led —
  // whose records past what it fsynced followers may hold while this log lost them
  // (power loss). Leading it again would write other records at those offsets in the
  // same epoch. Registering this incarnation moves the old one's leaderships to new
  // epochs first (Controller::register_broker), so lead only once the image shows
  // this incarnation's registration.
  const metadata::BrokerRegistration* registration = image.broker(self);
  const bool registered = link_.broker_epoch().has_value() && registration != nullptr &&
                          registration->epoch == metadata::BrokerEpoch(*link_.broker_epoch());
  bool retry = false;  // a partition led here by the image is not led yet
  for (const std::shared_ptr<Partition>& partition : topics_.partitions()) {
    if (stopping_) return;
    const metadata::TopicImage* topic = image.topic(partition->topic());
    if (topic == nullptr || partition->index() < 0 ||
        static_cast<size_t>(partition->index()) >= topic->partitions.size()) {
      continue;  // going: the next reconciliation drops it
    }
    const metadata::PartitionState& state =
        topic->partitions[static_cast<size_t>(partition->index())];
    const runtime::Instant now = env_.clock.now();
    if (state.leader != self) {
      partition->leader.reset();
      if (state.has_leader() && state.is_replica(self)) {
        if (hooks_.truncate_to_high_watermark && partition->following != state.leader &&
            !partition->recovering) {
          // The planted flaw: the pre-KIP-101 follower, which trusted its high watermark.
          runtime::MutexGuard guard(partition->append_mutex);
          auto log = partition->log_handle();
          (void)truncate_follower(*partition, *log, log->high_watermark());
        }
        partition->following = state.leader;
        if (!fetchers_.contains(state.leader)) {
          fetchers_.insert(state.leader);
          const NodeId source = state.leader;
          spawn(fmt::format("replica-fetcher {}", source),
                [this, source] { replica_fetch_loop(source); });
        }
      } else {
        partition->following.reset();
      }
      continue;
    }
    partition->following.reset();
    if (!registered) {
      partition->leader.reset();
      retry = true;
      continue;
    }
    if (partition->leader && partition->leader->leader_epoch() == state.leader_epoch) {
      partition->leader->set_settings(leader_settings(*partition), now);
      partition->leader->on_image(state, eligible, now);
      sync_high_watermark(*partition);
      continue;
    }
    if (!become_leader(partition, state, eligible)) retry = true;
  }
  replication_retry_ = retry;
  // The group coordinator follows the leaderships of __consumer_offsets.
  sync_group_coordinators();
}

bool Broker::become_leader(const std::shared_ptr<Partition>& partition,
                           const metadata::PartitionState& state,
                           const replication::EligibleBrokers& eligible) {
  // The epoch starts at the log end, durably, before anything is appended in it
  // (KIP-279), under the append path so no produce interleaves.
  partition->leader.reset();
  if (partition->recovering) return false;  // after recovery
  runtime::MutexGuard guard(partition->append_mutex);
  auto log = partition->log_handle();
  if (auto assigned = log->assign_epoch_at_end(state.leader_epoch); !assigned) {
    storage_error(*partition, assigned.error());
    return false;
  }
  // The image may have moved on while the epoch was written: the next pass sees it.
  if (partition->leader_epoch() != state.leader_epoch || partition->recovering) return false;
  const Offset log_end = log->log_end_offset();
  // A proposal an earlier LeaderState of this leadership sent may still be committed.
  std::optional<replication::IsrProposal> in_flight;
  if (partition->last_proposal && partition->last_proposal->leader_epoch == state.leader_epoch &&
      partition->last_proposal->partition_epoch == state.partition_epoch) {
    in_flight = partition->last_proposal;
  }
  partition->leader.emplace(NodeId(settings_.config.node_id),
                            metadata::BrokerEpoch(link_.broker_epoch().value_or(-1)), state,
                            eligible, log_end, counted_end(*partition, *log), log->high_watermark(),
                            log_end, env_.clock.now(), leader_settings(*partition), in_flight);
  partition->leader->flaw_shrink_before_commit = hooks_.shrink_isr_early;
  partition->leader->flaw_high_watermark_under_min_isr = hooks_.high_watermark_under_min_isr;
  sync_high_watermark(*partition);
  return true;
}

bool Broker::confirm_leadership_wait(const std::shared_ptr<Partition>& partition,
                                     LeaderEpoch epoch, runtime::Instant deadline) {
  auto leading = [&] {
    return !stopping_ && partition->leader && !partition->recovering &&
           partition->leader->leader_epoch() == epoch;
  };
  if (!leading()) return false;
  // Each other ISR member and the fetches it had sent before the check.
  auto fetches = [&](NodeId replica) -> uint64_t {
    auto it = partition->leader->followers().find(replica);
    return it == partition->leader->followers().end() ? 0 : it->second.fetches;
  };
  absl::btree_map<NodeId, uint64_t> before;
  for (NodeId replica : partition->leader->isr()) {
    if (replica != NodeId(settings_.config.node_id)) before[replica] = fetches(replica);
  }
  std::optional<uint64_t> nudged_at;  // the fetches seen at the last nudge
  while (true) {
    if (!leading()) return false;
    bool confirmed = true;
    uint64_t seen = 0;
    for (const auto& [replica, count] : before) {
      confirmed &= fetches(replica) >= count + 2;
      seen += fetches(replica);
    }
    if (confirmed) return true;
    if (env_.clock.now() >= deadline) return false;
    // A fetch arrived since the last nudge (it parks for want of data): answer it now.
    if (nudged_at != seen) {
      nudged_at = seen;
      partition->fetch_nudges++;
      partition->waiters().notify_all();
    }
    env_.scheduler.sleep_for(runtime::milliseconds(1));
  }
}

std::vector<Broker::LogState> Broker::log_states() const {
  std::vector<LogState> states;
  for (const std::shared_ptr<Partition>& partition : topics_.partitions()) {
    LogState& state = states.emplace_back();
    state.topic = partition->topic();
    state.partition = partition->index();
    state.directory = topics_.directory_of(partition->topic(), partition->index());
    state.leader = partition->leader.has_value();
    state.recovering = partition->recovering;
    state.high_watermark = partition->high_watermark();
    state.log_start = partition->log().log_start_offset();
    state.log_end = partition->log().log_end_offset();
  }
  return states;
}

void Broker::replication_tick() {
  const runtime::Instant now = env_.clock.now();
  const bool check = now >= next_isr_check_;
  if (check) {
    next_isr_check_ = now + runtime::milliseconds(
                                std::max<int64_t>(settings_.config.replica_lag_time_max_ms / 2, 1));
  }
  for (const std::shared_ptr<Partition>& partition : topics_.partitions()) {
    if (!partition->leader || partition->recovering) continue;
    replication::LeaderState& leader = *partition->leader;
    std::optional<replication::IsrProposal> proposal;
    if (check) proposal = leader.tick(now);
    // One that waits for an answer that may still come right is sent again.
    if (!proposal) proposal = leader.proposal_to_send();
    sync_high_watermark(*partition);
    if (proposal) send_isr_proposal(partition, std::move(*proposal));
  }
}

void Broker::send_isr_proposal(const std::shared_ptr<Partition>& partition,
                               replication::IsrProposal proposal) {
  if (partition->proposal_sending || stopping_) return;
  const metadata::TopicImage* topic = link_.image().topic(partition->topic());
  if (topic == nullptr) return;
  protocol::AlterPartitionRequest request;
  request.broker_id = settings_.config.node_id;
  request.broker_epoch = link_.broker_epoch().value_or(-1);
  auto& topic_data = request.topics.emplace_back();
  topic_data.topic_id = topic->id.uuid;
  auto& data = topic_data.partitions.emplace_back();
  data.partition_index = partition->index();
  data.leader_epoch = proposal.leader_epoch.value();
  data.partition_epoch = proposal.partition_epoch.value();
  for (const replication::IsrMember& member : proposal.new_isr) {
    auto& state = data.new_isr_with_epochs.emplace_back();
    state.broker_id = member.replica.value();
    state.broker_epoch = member.broker_epoch.value();
    data.new_isr.push_back(member.replica.value());
  }
  partition->proposal_sending = true;
  partition->last_proposal = proposal;
  spawn("alter-partition",
        [this, partition, proposal = std::move(proposal), request = std::move(request)]() mutable {
          auto answered =
              link_.send_to_controller(std::move(request), env_.clock.now() + runtime::seconds(5));
          partition->proposal_sending = false;
          if (!partition->leader || partition->leader->leader_epoch() != proposal.leader_epoch)
            return;
          replication::IsrAnswer answer;
          answer.error = ErrorCode::request_timed_out;
          if (answered) {
            const auto* response = std::get_if<protocol::AlterPartitionResponse>(answered->get());
            if (response != nullptr && response->error_code != 0) {
              answer.error = static_cast<ErrorCode>(response->error_code);
            } else if (response != nullptr && response->topics.size() == 1 &&
                       response->topics[0].partitions.size() == 1) {
              const auto& result = response->topics[0].partitions[0];
              answer.error = static_cast<ErrorCode>(result.error_code);
              for (int32_t member : result.isr) answer.isr.push_back(NodeId(member));
              answer.leader_epoch = LeaderEpoch(result.leader_epoch);
              answer.partition_epoch = metadata::PartitionEpoch(result.partition_epoch);
            }
          }
          partition->leader->on_answer(proposal, answer, env_.clock.now());
          sync_high_watermark(*partition);
        });
}

namespace {

// A followed partition as it was asked for in one fetch.
struct Asked {
  std::shared_ptr<Partition> partition;
  metadata::TopicId topic_id;
  std::shared_ptr<storage::PartitionLog> log;
  LeaderEpoch leader_epoch;
  Offset fetch_offset;
};

}  // namespace

void Broker::replica_fetch_loop(NodeId source) {
  const runtime::Duration backoff =
      runtime::milliseconds(settings_.config.replica_fetch_backoff_ms);
  std::shared_ptr<rpc::Connection> connection;
  while (!stopping_) {
    std::vector<Asked> asked;
    for (const std::shared_ptr<Partition>& partition : topics_.partitions()) {
      if (partition->following == source && !partition->recovering) {
        asked.push_back(Asked{partition, metadata::TopicId{}, partition->log_handle(),
                              partition->leader_epoch(), Offset(0)});
      }
    }
    if (asked.empty()) break;
    // Where the source listens, and its partitions' ids, as of now.
    const metadata::Image& image = link_.image();
    const metadata::BrokerRegistration* registration = image.broker(source);
    const metadata::BrokerEndpoint* endpoint =
        registration == nullptr ? nullptr : registration->endpoint(settings_.listener_name);
    if (endpoint == nullptr) {
      env_.scheduler.sleep_for(backoff);
      continue;
    }
    const runtime::Address address{endpoint->host, endpoint->port};
    protocol::FetchRequest request;
    request.replica_id = settings_.config.node_id;
    request.replica_state.replica_id = settings_.config.node_id;
    request.replica_state.replica_epoch = link_.broker_epoch().value_or(-1);
    request.max_wait_ms = settings_.config.replica_fetch_wait_max_ms;
    request.min_bytes = settings_.config.replica_fetch_min_bytes;
    request.max_bytes = settings_.config.replica_fetch_response_max_bytes;
    request.session_id = 0;
    request.session_epoch = -1;
    for (Asked& entry : asked) {
      const metadata::TopicImage* topic = image.topic(entry.partition->topic());
      if (topic == nullptr) continue;
      entry.topic_id = topic->id;
      if (request.topics.empty() || request.topics.back().topic != topic->name) {
        auto& fetch_topic = request.topics.emplace_back();
        fetch_topic.topic = topic->name;
        fetch_topic.topic_id = topic->id.uuid;
      }
      storage::PartitionLog& log = *entry.log;
      entry.fetch_offset = log.log_end_offset();
      auto& p = request.topics.back().partitions.emplace_back();
      p.partition = entry.partition->index();
      p.current_leader_epoch = entry.leader_epoch.value();
      p.fetch_offset = entry.fetch_offset.value();
      p.last_fetched_epoch =
          replication::epoch_before(log.leader_epochs(), entry.fetch_offset).value();
      p.log_start_offset = log.log_start_offset().value();
      p.partition_max_bytes = settings_.config.replica_fetch_max_bytes;
    }
    if (!connection || !connection->is_open() || connection->address() != address) {
      if (connection) connection->close();
      rpc::ConnectionOptions options;
      options.client_id = fmt::format("weir-replica-fetcher-{}", settings_.config.node_id);
      options.connect_timeout = runtime::seconds(5);
      options.request_timeout = runtime::milliseconds(settings_.config.replica_socket_timeout_ms);
      auto connected = rpc::Connection::connect(env_, address, options);
      if (!connected) {
        env_.scheduler.sleep_for(backoff);
        continue;
      }
      connection = std::move(connected).value();
      fetch_connections_[source] = connection;
      if (stopping_) break;  // stop() closed the others while this one was connecting
    }
    // Truncation by DivergingEpoch needs Fetch v12, and replica_state v15.
    const std::optional<int16_t> version = connection->version(protocol::ApiKey::fetch);
    if (!version || *version < 15) {
      env_.scheduler.sleep_for(backoff);
      continue;
    }
    auto answer = connection->send_and_wait(std::move(request));
    if (stopping_) break;
    if (!answer) {
      connection->close();
      env_.scheduler.sleep_for(backoff);
      continue;
    }
    const auto* response = std::get_if<protocol::FetchResponse>(answer->get());
    if (response == nullptr || response->error_code != 0) {
      env_.scheduler.sleep_for(backoff);
      continue;
    }
    bool any_error = false;
    for (const auto& topic : response->responses) {
      for (const auto& result : topic.partitions) {
        auto it = std::find_if(asked.begin(), asked.end(), [&](const Asked& entry) {
          // Named by id from Fetch v13 on, by name before.
          const bool same_topic = topic.topic.empty()
                                      ? entry.topic_id == metadata::TopicId{topic.topic_id}
                                      : entry.partition->topic() == topic.topic;
          return same_topic && entry.partition->index() == result.partition_index;
        });
        if (it == asked.end()) continue;
        if (!apply_fetched(*it->partition, it->log, it->leader_epoch, it->fetch_offset, source,
                           *connection, result)) {
          any_error = true;
        }
      }
    }
    if (any_error) env_.scheduler.sleep_for(backoff);
  }
  if (connection) connection->close();
  fetch_connections_.erase(source);
  fetchers_.erase(source);
}

bool Broker::truncate_follower(Partition& partition, storage::PartitionLog& log, Offset offset) {
  VERIFY(partition.append_mutex.locked());
  // Records dropped are writes someone may have been told of (acks=1, or committed
  // ones when an unclean election chose a replica without them): name them.
  if (offset < log.log_end_offset() && hooks_.report) {
    const std::string committed =
        offset < log.high_watermark()
            ? fmt::format("; [{}, {}) had been committed (an unclean election)", offset.value(),
                          log.high_watermark().value())
            : std::string();
    hooks_.report(
        fmt::format("partition {}-{}: truncated offsets [{}, {}) to follow leader "
                    "epoch {}{}",
                    partition.topic(), partition.index(), offset.value(),
                    log.log_end_offset().value(), partition.leader_epoch().value(), committed));
  }
  if (offset < log.log_end_offset() && hooks_.on_follower_truncation) {
    hooks_.on_follower_truncation(partition.topic(), partition.index());
  }
  if (auto truncated = log.truncate_to(offset); !truncated) {
    storage_error(partition, truncated.error());
    return false;
  }
  // The producers' state follows the log (it cuts at a batch boundary, maybe below).
  if (auto producers = partition.producers().truncate_to(log.log_end_offset()); !producers) {
    storage_error(partition, producers.error());
    return false;
  }
  return true;
}

std::optional<Offset> Broker::leader_log_end(rpc::Connection& connection,
                                             const Partition& partition) {
  protocol::ListOffsetsRequest request;
  request.replica_id = settings_.config.node_id;
  auto& topic = request.topics.emplace_back();
  topic.name = partition.topic();
  auto& asked = topic.partitions.emplace_back();
  asked.partition_index = partition.index();
  asked.current_leader_epoch = partition.leader_epoch().value();
  asked.timestamp = -1;  // the latest: for a replica, the leader's log end
  auto answer = connection.send_and_wait(std::move(request));
  if (!answer) return std::nullopt;
  const auto* response = std::get_if<protocol::ListOffsetsResponse>(answer->get());
  if (response == nullptr || response->topics.size() != 1 ||
      response->topics[0].partitions.size() != 1) {
    return std::nullopt;
  }
  const auto& result = response->topics[0].partitions[0];
  if (result.error_code != 0 || result.offset < 0) return std::nullopt;
  return Offset(result.offset);
}

bool Broker::apply_fetched(Partition& partition, const std::shared_ptr<storage::PartitionLog>& log,
                           LeaderEpoch leader_epoch, Offset fetch_offset, NodeId source,
                           rpc::Connection& connection,
                           const protocol::FetchResponse::PartitionData& result) {
  // Applied only to the log and the following it was asked for, at the offset asked.
  runtime::MutexGuard guard(partition.append_mutex);
  if (partition.following != source || partition.leader_epoch() != leader_epoch ||
      partition.log_handle() != log || partition.recovering ||
      log->log_end_offset() != fetch_offset) {
    return true;
  }
  const auto code = static_cast<ErrorCode>(result.error_code);
  if (code == ErrorCode::offset_out_of_range) {
    // Behind the leader's log start (retention or DeleteRecords there): start over at
    // it, as Kafka's truncateFullyAndStartAt.
    if (result.log_start_offset > fetch_offset.value()) {
      const Offset start(result.log_start_offset);
      if (auto reset = log->reset_to(start); !reset) {
        storage_error(partition, reset.error());
        return false;
      }
      if (auto cut = partition.producers().truncate_to(start); !cut) {
        storage_error(partition, cut.error());
      }
      return true;
    }
    // The leader knows none of this log's epochs at or below its last one: past the
    // leader's log end it cannot be the leader's (Kafka's fetchOffsetAndTruncate asks
    // the leader's end with ListOffsets as a replica, and cuts to it).
    auto leader_end = leader_log_end(connection, partition);
    if (!leader_end) return false;
    return *leader_end < fetch_offset && truncate_follower(partition, *log, *leader_end);
  }
  if (code != ErrorCode::none) return false;
  if (result.diverging_epoch.epoch != -1 || result.diverging_epoch.end_offset != -1) {
    if (hooks_.skip_follower_truncation) return true;
    const replication::EpochEnd answer{LeaderEpoch(result.diverging_epoch.epoch),
                                       Offset(result.diverging_epoch.end_offset)};
    replication::Truncation cut =
        replication::truncation_for(log->leader_epochs(), fetch_offset, answer);
    if (hooks_.truncate_to_leader_offset && answer.end_offset != Offset(-1)) {
      cut = {std::min(answer.end_offset, fetch_offset), true};
    }
    return cut.offset >= fetch_offset || truncate_follower(partition, *log, cut.offset);
  }
  if (result.records && !result.records->empty()) {
    protocol::Bytes records = *result.records;
    auto appended = log->append_replicated(records);
    if (!appended) {
      storage_error(partition, appended.error());
      return false;
    }
    (void)partition.producers().record_appended(records);
    // The next fetch says this node has what it fetched: under the fsync policy that
    // must be durable first (the leader counts it toward the high watermark).
    if (partition.flush.fsync_before_ack) {
      if (auto durable = log->wait_durable(log->log_end_offset()); !durable) {
        storage_error(partition, durable.error());
        return false;
      }
    }
    partition.waiters().notify_all();
  }
  // A follower's high watermark: the leader's, as far as its own log reaches.
  partition.advance_high_watermark(std::min(Offset(result.high_watermark), log->log_end_offset()));
  return true;
}

}  // namespace weir::broker
