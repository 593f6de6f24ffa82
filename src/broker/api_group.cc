// The group coordinator: the classic consumer group apis (JoinGroup, SyncGroup,
// Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups,
// DeleteGroups, OffsetDelete) over the pure state machines of src/group, and the
// __consumer_offsets partitions that hold their state.
//
// A group lives on partition Utils.abs(hash(group id)) % partitions of
// __consumer_offsets (group/coordinator_key.h); the broker leading that partition is
// its coordinator. When reconciliation makes this broker a partition's leader, a shard
// (group_shard.h) is created and loaded: the partition's log is replayed into groups
// and offsets (requests meanwhile get COORDINATOR_LOAD_IN_PROGRESS); when leadership
// moves, the shard is unloaded (its parked requests get NOT_COORDINATOR) and requests
// for its groups get NOT_COORDINATOR, which sends clients back to FindCoordinator.
//
// Every change is a record appended by the leader and acknowledged like an acks=all
// produce: a commit, a SyncGroup answer or a deletion happens once the high watermark
// passes its record, so a new coordinator replays exactly what clients were told.
//
// Fibers per shard: the load, a persist fiber that appends the shard's records in
// order, and a timer fiber that ticks the groups at their deadlines. Requests that
// wait for a group (a parked JoinGroup) or an append (OffsetCommit) answer through a
// promise the handler returns, like Produce's waiting part.
#include <algorithm>

#include <fmt/format.h>

#include "broker/broker.h"
#include "group/coordinator_key.h"
#include "record/batch.h"
#include "record/batch_builder.h"

namespace weir::broker {

using protocol::error_value;
using protocol::ErrorCode;

namespace {

// Kafka's offset.metadata.max.bytes default.
constexpr size_t kOffsetMetadataBytesMax = 4096;
// How much of the log one read of a load takes.
constexpr size_t kLoadReadBytes = size_t{1} << 20;
// The largest records section a load decompresses.
constexpr size_t kLoadDecompressedBytesMax = size_t{64} << 20;
// Kafka's offsets.retention.check.interval.ms default: how often expired offsets go.
constexpr runtime::Duration kOffsetExpiryCheckInterval = runtime::milliseconds(600000);
// How long OffsetFetch waits for its coordinator's followers to confirm its leadership
// (about two fetch round trips when they do) before answering NOT_COORDINATOR.
constexpr runtime::Duration kLeadershipCheckTimeout = runtime::seconds(3);
// The group types ListGroups v5 names (group_type).
constexpr std::string_view kClassicGroupType = "classic";
constexpr std::string_view kConsumerGroupType = "consumer";

template <typename Body>
Reply answer_now(Body body) {
  return Reply{protocol::ResponseBody(std::move(body)), std::nullopt};
}

std::optional<group::PersistFailure> persist_failure(ErrorCode code) {
  switch (code) {
    case ErrorCode::none: return std::nullopt;
    case ErrorCode::not_leader_or_follower:
    case ErrorCode::kafka_storage_error:
    case ErrorCode::unknown_topic_or_partition: return group::PersistFailure::not_coordinator;
    case ErrorCode::message_too_large:
    case ErrorCode::record_list_too_large: return group::PersistFailure::too_large;
    default: return group::PersistFailure::unavailable;
  }
}

// What an offset commit answers for a failed append (Kafka's
// GroupMetadataManager#appendOffsetCommitErrorToResponseError).
ErrorCode commit_error(group::PersistFailure failure) {
  switch (failure) {
    case group::PersistFailure::unavailable: return ErrorCode::coordinator_not_available;
    case group::PersistFailure::not_coordinator: return ErrorCode::not_coordinator;
    case group::PersistFailure::too_large: return ErrorCode::invalid_commit_offset_size;
  }
  return ErrorCode::unknown_server_error;
}

// The member's metadata for the group's selected protocol (DescribeGroups).
group::Bytes protocol_metadata(const group::Member& member,
                               const std::optional<std::string>& protocol) {
  if (!protocol) return {};
  for (const group::Protocol& offered : member.protocols) {
    if (offered.name == *protocol) return offered.metadata;
  }
  return {};
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

// A group response that carries only its error: what SyncGroup, Heartbeat and
// LeaveGroup answer when the group cannot take the request.
template <typename Response>
protocol::ResponseBody error_only(ErrorCode code) {
  Response response;
  response.error_code = error_value(code);
  return protocol::ResponseBody(std::move(response));
}

}  // namespace

// --- Shards: load, unload, persistence, timers -----------------------------------------

group::Now Broker::group_now() const { return group::Now{env_.clock.now(), env_.clock.wall_now()}; }

group::GroupSettings Broker::group_settings(const std::string& group_id, LeaderEpoch epoch) const {
  const config::BrokerConfig& config = settings_.config;
  group::GroupSettings settings;
  settings.group_id = group_id;
  settings.coordinator_epoch = epoch.value();
  settings.max_size = config.group_max_size;
  settings.initial_rebalance_delay =
      runtime::milliseconds(std::max(config.group_initial_rebalance_delay_ms, 0));
  settings.min_session_timeout = runtime::milliseconds(config.group_min_session_timeout_ms);
  settings.max_session_timeout = runtime::milliseconds(config.group_max_session_timeout_ms);
  settings.flaw_same_generation = hooks_.group_flaws.same_generation;
  settings.flaw_commit_any_generation = hooks_.group_flaws.commit_any_generation;
  return settings;
}

CoordinatedGroup& Broker::group_entry(GroupShard& shard, const std::string& group_id) {
  auto it = shard.groups.find(group_id);
  if (it == shard.groups.end()) {
    CoordinatedGroup entry{
        std::make_unique<group::ClassicGroup>(group_settings(group_id, shard.epoch), group_now()),
        group::GroupOffsets(group_id)};
    it = shard.groups.emplace(group_id, std::move(entry)).first;
  }
  VERIFY(it->second.group != nullptr);
  return it->second;
}

void Broker::sync_group_coordinators() {
  const Topic* topic = topics_.find(kOffsetsTopic);
  // Unload the shards whose leadership ended (or changed epoch: a new shard follows).
  for (auto it = group_shards_.begin(); it != group_shards_.end();) {
    std::shared_ptr<Partition> partition = topics_.partition(kOffsetsTopic, it->first);
    const bool still_led = !stopping_ && topic != nullptr && partition != nullptr &&
                           partition->leader &&
                           partition->leader->leader_epoch() == it->second->epoch;
    if (still_led) {
      ++it;
      continue;
    }
    std::shared_ptr<GroupShard> shard = it->second;
    it = group_shards_.erase(it);
    unload_shard(*shard);
  }
  if (stopping_ || topic == nullptr) return;
  for (const auto& [index, partition] : topic->partitions) {
    if (!partition->leader || group_shards_.contains(index)) continue;
    auto shard =
        std::make_shared<GroupShard>(env_.scheduler, index, partition->leader->leader_epoch());
    group_shards_.emplace(index, shard);
    spawn(fmt::format("group-load {}", index), [this, shard] { load_shard(shard); });
  }
}

void Broker::unload_shard(GroupShard& shard) {
  if (!shard.active) return;
  VERIFY(
      !group_shards_.contains(shard.partition) || group_shards_.at(shard.partition).get() != &shard,
      "shard {} unloaded while still registered", shard.partition);
  shard.active = false;
  const group::Now now = group_now();
  for (auto& [group_id, entry] : shard.groups) {
    deliver(shard, group_id, entry.group->unload(now));
  }
  // Every parked request was a group's, so none should be left; answer any that is.
  while (!shard.slots.empty()) {
    auto node = shard.slots.extract(shard.slots.begin());
    node.mapped()(nullptr, ErrorCode::not_coordinator);
  }
  shard.persist_wake.notify_all();
  shard.timer_wake.notify_all();
  shard.loaded_event.set();
}

void Broker::load_shard(const std::shared_ptr<GroupShard>& shard) {
  while (shard->active && !stopping_) {
    std::shared_ptr<Partition> partition = topics_.partition(kOffsetsTopic, shard->partition);
    if (partition == nullptr || !partition->leader ||
        partition->leader->leader_epoch() != shard->epoch) {
      return;  // leadership moved: reconciliation unloads the shard
    }
    if (partition->recovering) {
      env_.scheduler.sleep_for(runtime::milliseconds(100));
      continue;
    }
    auto log = partition->log_handle();
    // The leader's whole log: what it holds past the high watermark is this
    // leadership's to commit (its first append in the epoch will).
    const Offset end = hooks_.group_flaws.load_to_high_watermark
                           ? std::min(log->log_end_offset(), log->high_watermark())
                           : log->log_end_offset();
    Offset position = log->log_start_offset();
    absl::btree_map<std::string, std::optional<group::GroupMetadataValue>> metadata;
    absl::btree_map<std::string, group::GroupOffsets> offsets;
    absl::btree_map<std::string, group::StoredConsumerGroup> consumers;
    group::Bytes scratch;
    bool failed = false;
    size_t skipped = 0;
    while (position < end && !failed) {
      auto bytes = log->read(position, kLoadReadBytes, end);
      if (!bytes) {
        storage_error(*partition, bytes.error());
        failed = true;
        break;
      }
      auto batches = record::split_batches(*bytes);
      if (!batches || batches->empty()) {
        failed = true;
        break;
      }
      for (const record::BatchView& batch : *batches) {
        position = batch.header.last_offset() + 1;
        if (batch.header.is_control()) continue;
        auto section = record::records_section(batch, kLoadDecompressedBytesMax, scratch);
        if (!section) {
          skipped++;
          continue;
        }
        record::RecordCursor cursor(*section, batch.header.records_count);
        record::RecordView view;
        while (true) {
          auto next = cursor.next(view);
          if (!next || !*next) break;
          if (!view.key) continue;
          auto decoded = group::decode_record(*view.key, view.value);
          if (!decoded) {
            // Other record types (share and streams groups) and what weir cannot read.
            if (decoded.error() != group::RecordError::unknown_key_type) skipped++;
            continue;
          }
          if (const auto* key = std::get_if<group::ConsumerGroupKey>(&decoded->key)) {
            consumers[key->group].replay(*key, decoded->value);
            continue;
          }
          if (const auto* key = std::get_if<group::GroupMetadataKey>(&decoded->key)) {
            std::optional<group::GroupMetadataValue> value;
            if (decoded->value) value = std::get<group::GroupMetadataValue>(*decoded->value);
            metadata[key->group] = std::move(value);
            continue;
          }
          const auto& key = std::get<group::OffsetCommitKey>(decoded->key);
          std::optional<group::OffsetCommitValue> value;
          if (decoded->value) value = std::get<group::OffsetCommitValue>(*decoded->value);
          offsets.try_emplace(key.group, key.group).first->second.replay(key, value);
        }
      }
    }
    if (failed) {
      env_.scheduler.sleep_for(runtime::milliseconds(500));
      continue;
    }
    // The reads suspended: the shard may have been unloaded meanwhile.
    if (!shard->active || stopping_) return;
    if (skipped > 0 && hooks_.report) {
      hooks_.report(fmt::format("{}-{}: {} unreadable records skipped while loading groups",
                                kOffsetsTopic, shard->partition, skipped));
    }
    const group::Now now = group_now();
    for (auto& [group_id, value] : metadata) {
      if (!value) continue;  // deleted
      CoordinatedGroup entry{std::make_unique<group::ClassicGroup>(group::ClassicGroup::restore(
                                 group_settings(group_id, shard->epoch), *value, now)),
                             group::GroupOffsets(group_id)};
      shard->groups.emplace(group_id, std::move(entry));
    }
    for (auto& [group_id, group_offsets] : offsets) {
      if (group_offsets.empty()) continue;
      group_entry(*shard, group_id).offsets = std::move(group_offsets);
    }
    for (auto& [group_id, stored] : consumers) {
      if (stored.empty()) continue;  // deleted
      if (hooks_.group_flaws.forget_consumer_groups) continue;
      restore_consumer_group(*shard, group_id, stored);
    }
    VERIFY(!shard->loaded, "shard {} loaded twice", shard->partition);
    shard->loaded = true;
    shard->loaded_at = env_.clock.now();
    shard->loaded_event.set();
    spawn(fmt::format("group-persist {}", shard->partition),
          [this, shard] { shard_persist_loop(shard); });
    spawn(fmt::format("group-timer {}", shard->partition),
          [this, shard] { shard_timer_loop(shard); });
    return;
  }
}

void Broker::deliver(GroupShard& shard, const std::string& group_id, group::Effects&& effects) {
  for (group::Reply& reply : effects.replies) {
    auto node = shard.slots.extract(reply.token);
    VERIFY(!node.empty(), "group {} answered token {} twice, or one it was never given", group_id,
           reply.token.value());
    node.mapped()(&reply.response, ErrorCode::none);
  }
  if (!shard.active) return;  // an unload asks for nothing more
  for (group::PersistRequest& persist : effects.persists) {
    const group::PersistId id = persist.id;
    shard.persists.push_back(PersistItem{
        {std::move(persist.record)},
        [this, group_id, id](GroupShard& owner, std::optional<group::PersistFailure> failure) {
          if (!owner.active) return;  // the unload answered the group's requests
          auto it = owner.groups.find(group_id);
          if (it == owner.groups.end()) return;
          group::ClassicGroup& group = *it->second.group;
          deliver(owner, group_id,
                  failure ? group.on_persist_failed(id, *failure, group_now())
                          : group.on_persisted(id, group_now()));
        }});
  }
  if (!effects.persists.empty()) shard.persist_wake.notify_all();
  if (effects.next_deadline < shard.timer_deadline) {
    shard.timer_deadline = effects.next_deadline;
    shard.timer_wake.notify_all();
  }
}

void Broker::persist(GroupShard& shard, PersistItem item) {
  VERIFY(shard.active, "a persist for an unloaded shard");
  shard.persists.push_back(std::move(item));
  shard.persist_wake.notify_all();
}

void Broker::shard_persist_loop(const std::shared_ptr<GroupShard>& shard) {
  while (true) {
    while (shard->persists.empty() && shard->active && !stopping_) {
      shard->persist_wake.add(env_.scheduler.prepare_wait());
      env_.scheduler.suspend(env_.clock.now() + runtime::seconds(1));
    }
    if (shard->persists.empty()) return;  // unloaded or stopping, nothing left to answer
    PersistItem item = std::move(shard->persists.front());
    shard->persists.pop_front();
    std::optional<group::PersistFailure> failure = group::PersistFailure::not_coordinator;
    shard->appending = true;
    // An empty item is a barrier: every append before it has completed.
    if (shard->active && !stopping_) {
      failure = item.records.empty() ? std::nullopt : append_group_records(*shard, item.records);
    }
    shard->appending = false;
    item.done(*shard, failure);
  }
}

std::optional<group::PersistFailure> Broker::append_group_records(
    GroupShard& shard, const std::vector<group::OffsetsRecord>& records) {
  VERIFY(!records.empty(), "an empty append");
  std::shared_ptr<Partition> partition = topics_.partition(kOffsetsTopic, shard.partition);
  if (partition == nullptr || !partition->leader ||
      partition->leader->leader_epoch() != shard.epoch) {
    return group::PersistFailure::not_coordinator;
  }
  // One batch: an offset commit's partitions are committed together or not at all.
  record::BatchBuilder builder(record::Compression::none);
  const int64_t timestamp = env_.clock.wall_now().milliseconds;
  for (const group::OffsetsRecord& record : records) {
    const group::EncodedRecord encoded = group::encode_record(record);
    std::optional<std::span<const uint8_t>> value;
    if (encoded.value) value = std::span<const uint8_t>(*encoded.value);
    const bool appended = builder.try_append(timestamp, std::span<const uint8_t>(encoded.key),
                                             value, {}, std::numeric_limits<size_t>::max());
    VERIFY(appended, "a batch without a size limit takes every record");
  }
  record::Bytes batch = builder.finish(record::BatchIdentity{});
  protocol::ProduceResponse::PartitionProduceResponse result;
  std::optional<Offset> end;
  auto log = append(partition, batch, -1, result, end);
  if (!log) return persist_failure(static_cast<ErrorCode>(result.error_code));
  const runtime::Instant deadline =
      env_.clock.now() + runtime::milliseconds(settings_.config.offsets_commit_timeout_ms);
  return persist_failure(commit(*partition, log, *end, shard.epoch, -1, deadline));
}

void Broker::shard_timer_loop(const std::shared_ptr<GroupShard>& shard) {
  VERIFY(shard->loaded, "the timer of shard {} before its load", shard->partition);
  runtime::Instant last_ticked = runtime::Instant::from_nanoseconds(INT64_MIN);
  runtime::Instant next_expiry = env_.clock.now() + kOffsetExpiryCheckInterval;
  while (shard->active && !stopping_) {
    const runtime::Instant now = env_.clock.now();
    if (now >= next_expiry && expire_offsets(*shard))
      next_expiry = now + kOffsetExpiryCheckInterval;
    runtime::Instant earliest = runtime::Instant::max();
    std::vector<std::string> due;
    for (const auto& [group_id, entry] : shard->groups) {
      runtime::Instant deadline = entry.group->next_deadline();
      if (entry.consumer != nullptr) deadline = std::min(deadline, entry.consumer->next_deadline());
      if (deadline <= now) {
        due.push_back(group_id);
      } else {
        earliest = std::min(earliest, deadline);
      }
    }
    for (const std::string& group_id : due) {
      if (!shard->active) return;
      auto it = shard->groups.find(group_id);
      if (it == shard->groups.end()) continue;
      deliver(*shard, group_id, it->second.group->tick(group_now()));
      tick_consumer_group(*shard, group_id);
    }
    // The ticks moved the deadlines: look again, but never twice at one instant (a
    // deadline a tick leaves in the past must not spin this fiber without a yield).
    if (!due.empty() && last_ticked != now) {
      last_ticked = now;
      continue;
    }
    if (!due.empty()) earliest = now + runtime::milliseconds(1);
    shard->timer_deadline = earliest;
    shard->timer_wake.add(env_.scheduler.prepare_wait());
    // Wakes at least each second to look at shutdown and the expiry check.
    env_.scheduler.suspend(std::min(earliest, now + runtime::seconds(1)));
    shard->timer_deadline = runtime::Instant::max();
  }
}

bool Broker::expire_offsets(GroupShard& shard) {
  // A commit waiting to be appended would land before the tombstones and be deleted by
  // them although it is newer: look only when nothing is pending (the next second).
  if (!shard.persists.empty() || shard.appending) return false;
  const int64_t now_ms = env_.clock.wall_now().milliseconds;
  const auto retention =
      std::chrono::milliseconds(int64_t{settings_.config.offsets_retention_minutes} * 60'000);
  for (const auto& [group_id, entry] : shard.groups) {
    if (entry.consumer_members()) continue;  // a KIP-848 group with members keeps its offsets
    std::vector<group::OffsetsRecord> tombstones =
        entry.offsets.expired(entry.group->offset_expiry(), now_ms, retention);
    if (tombstones.empty()) continue;
    persist(shard,
            PersistItem{tombstones,
                        [tombstones, group_id = group_id](
                            GroupShard& owner, std::optional<group::PersistFailure> failure) {
                          auto it = owner.groups.find(group_id);
                          if (failure || !owner.active || it == owner.groups.end()) return;
                          for (const group::OffsetsRecord& tombstone : tombstones) {
                            it->second.offsets.replay(
                                std::get<group::OffsetCommitKey>(tombstone.key), std::nullopt);
                          }
                        }});
  }
  return true;
}

Result<std::shared_ptr<GroupShard>, ErrorCode> Broker::coordinator_shard(
    const std::string& group_id) {
  const metadata::TopicImage* topic = link_.image().topic(kOffsetsTopic);
  if (topic == nullptr || topic->partitions.empty()) {
    return unexpected(ErrorCode::coordinator_not_available);
  }
  const int32_t index =
      group::partition_for_group(group_id, static_cast<int32_t>(topic->partitions.size()));
  auto it = group_shards_.find(index);
  if (it == group_shards_.end() || !it->second->active) {
    return unexpected(ErrorCode::not_coordinator);
  }
  if (!it->second->loaded) return unexpected(ErrorCode::coordinator_load_in_progress);
  return it->second;
}

Reply Broker::group_call(const std::string& group_id, bool create, GroupCall call,
                         GroupAnswer to_wire, GroupError error) {
  if (group_id.empty()) return answer_now(error(ErrorCode::invalid_group_id));
  auto found = coordinator_shard(group_id);
  if (!found) return answer_now(error(found.error()));
  GroupShard& shard = **found;
  if (!create && !shard.groups.contains(group_id)) {
    return answer_now(error(ErrorCode::unknown_member_id));
  }
  CoordinatedGroup& entry = group_entry(shard, group_id);
  if (entry.consumer_members()) {
    // Another protocol's group (KIP-848): a joiner is refused, the rest are strangers.
    return answer_now(
        error(create ? ErrorCode::inconsistent_group_protocol : ErrorCode::unknown_member_id));
  }
  if (create && entry.consumer != nullptr) {
    // An empty consumer group becomes a classic one: its records go (tombstones).
    entry.consumer.reset();
    persist_consumer_group(shard, group_id, nullptr);
  }
  auto promise = std::make_shared<runtime::Promise<protocol::ResponseBody>>(env_.scheduler);
  auto future = promise->future();
  const group::Token token(shard.next_token++);
  shard.slots.emplace(token, [promise, to_wire = std::move(to_wire), error = std::move(error)](
                                 const group::Response* response, ErrorCode code) {
    promise->set(response != nullptr ? to_wire(*response) : error(code));
  });
  deliver(shard, group_id, call(*entry.group, token, group_now()));
  return Reply{std::nullopt, std::move(future)};
}

// --- JoinGroup, SyncGroup, Heartbeat, LeaveGroup ------------------------------------------

Reply Broker::join_group(const protocol::RequestHeader& header,
                         protocol::JoinGroupRequest&& request) {
  const int16_t version = header.api_version;
  group::JoinRequest join;
  join.api_version = version;
  join.member_id = request.member_id;
  join.group_instance_id = request.group_instance_id;
  join.client_id = header.client_id.value_or("");
  join.client_host = "";  // the peer's address does not reach handlers yet
  join.session_timeout_ms = request.session_timeout_ms;
  join.rebalance_timeout_ms = version >= 1 ? request.rebalance_timeout_ms : -1;
  join.protocol_type = request.protocol_type;
  for (auto& offered : request.protocols) {
    join.protocols.push_back(group::Protocol{offered.name, std::move(offered.metadata)});
  }
  auto error = [version, member_id = request.member_id](ErrorCode code) {
    protocol::JoinGroupResponse response;
    response.error_code = error_value(code);
    response.generation_id = -1;
    response.member_id = member_id;
    if (version < 7)
      response.protocol_name = std::string();
    else
      response.protocol_name = std::nullopt;
    return protocol::ResponseBody(std::move(response));
  };
  auto to_wire = [version](const group::Response& answer) {
    const auto& joined = std::get<group::JoinResponse>(answer);
    protocol::JoinGroupResponse response;
    response.error_code = error_value(joined.error);
    response.generation_id = joined.generation.value();
    response.protocol_type = joined.protocol_type;
    // v0-6 cannot say null: an empty name stands for none.
    response.protocol_name =
        version >= 7 ? joined.protocol_name : joined.protocol_name.value_or(std::string());
    response.leader = joined.leader;
    response.skip_assignment = joined.skip_assignment;
    response.member_id = joined.member_id;
    for (const group::JoinMember& member : joined.members) {
      auto& entry = response.members.emplace_back();
      entry.member_id = member.member_id;
      entry.group_instance_id = member.group_instance_id;
      entry.metadata = member.metadata;
    }
    return protocol::ResponseBody(std::move(response));
  };
  return group_call(
      request.group_id, true,
      [join = std::move(join)](group::ClassicGroup& group, group::Token token, group::Now now) {
        return group.join(join, token, now);
      },
      std::move(to_wire), std::move(error));
}

Reply Broker::sync_group(const protocol::RequestHeader& header,
                         protocol::SyncGroupRequest&& request) {
  const int16_t version = header.api_version;
  group::SyncRequest sync;
  sync.generation = group::GenerationId(request.generation_id);
  sync.member_id = request.member_id;
  sync.group_instance_id = request.group_instance_id;
  if (version >= 5) {
    sync.protocol_type = request.protocol_type;
    sync.protocol_name = request.protocol_name;
  }
  for (auto& assignment : request.assignments) {
    sync.assignments.push_back(
        group::SyncAssignment{assignment.member_id, std::move(assignment.assignment)});
  }
  auto error = error_only<protocol::SyncGroupResponse>;
  auto to_wire = [version](const group::Response& answer) {
    const auto& synced = std::get<group::SyncResponse>(answer);
    protocol::SyncGroupResponse response;
    response.error_code = error_value(synced.error);
    if (version >= 5) {
      response.protocol_type = synced.protocol_type;
      response.protocol_name = synced.protocol_name;
    }
    response.assignment = synced.assignment;
    return protocol::ResponseBody(std::move(response));
  };
  return group_call(
      request.group_id, false,
      [sync = std::move(sync)](group::ClassicGroup& group, group::Token token, group::Now now) {
        return group.sync(sync, token, now);
      },
      std::move(to_wire), std::move(error));
}

Reply Broker::heartbeat(const protocol::RequestHeader& /*header*/,
                        protocol::HeartbeatRequest&& request) {
  group::HeartbeatRequest beat;
  beat.generation = group::GenerationId(request.generation_id);
  beat.member_id = request.member_id;
  beat.group_instance_id = request.group_instance_id;
  auto error = error_only<protocol::HeartbeatResponse>;
  auto to_wire = [](const group::Response& answer) {
    protocol::HeartbeatResponse response;
    response.error_code = error_value(std::get<group::HeartbeatResponse>(answer).error);
    return protocol::ResponseBody(std::move(response));
  };
  return group_call(
      request.group_id, false,
      [beat = std::move(beat)](group::ClassicGroup& group, group::Token token, group::Now now) {
        return group.heartbeat(beat, token, now);
      },
      std::move(to_wire), std::move(error));
}

Reply Broker::leave_group(const protocol::RequestHeader& header,
                          protocol::LeaveGroupRequest&& request) {
  const int16_t version = header.api_version;
  group::LeaveRequest leave;
  if (version < 3) {
    leave.members.push_back(group::LeaveMember{request.member_id, std::nullopt});
  } else {
    for (const auto& member : request.members) {
      leave.members.push_back(group::LeaveMember{member.member_id, member.group_instance_id});
    }
  }
  auto error = error_only<protocol::LeaveGroupResponse>;
  auto to_wire = [version](const group::Response& answer) {
    const auto& left = std::get<group::LeaveResponse>(answer);
    protocol::LeaveGroupResponse response;
    ErrorCode code = left.error;
    if (version < 3) {
      // One member and no per-member list: its error is the response's.
      if (code == ErrorCode::none && !left.members.empty()) code = left.members.front().error;
    } else {
      for (const group::LeaveMemberResult& member : left.members) {
        auto& entry = response.members.emplace_back();
        entry.member_id = member.member_id;
        entry.group_instance_id = member.group_instance_id;
        entry.error_code = error_value(member.error);
      }
    }
    response.error_code = error_value(code);
    return protocol::ResponseBody(std::move(response));
  };
  return group_call(
      request.group_id, false,
      [leave = std::move(leave)](group::ClassicGroup& group, group::Token token, group::Now now) {
        return group.leave(leave, token, now);
      },
      std::move(to_wire), std::move(error));
}

// --- Offsets -------------------------------------------------------------------------------

Reply Broker::offset_commit(const protocol::RequestHeader& header,
                            protocol::OffsetCommitRequest&& request) {
  auto response = std::make_shared<protocol::OffsetCommitResponse>();
  auto answer_all = [&](ErrorCode code) {
    for (const auto& topic : request.topics) {
      auto& topic_response = response->topics.emplace_back();
      topic_response.name = topic.name;
      for (const auto& p : topic.partitions) {
        auto& result = topic_response.partitions.emplace_back();
        result.partition_index = p.partition_index;
        result.error_code = error_value(code);
      }
    }
    return answer_now(std::move(*response));
  };
  if (request.group_id.empty()) return answer_all(ErrorCode::invalid_group_id);
  auto found = coordinator_shard(request.group_id);
  if (!found) return answer_all(found.error());
  std::shared_ptr<GroupShard> shard = std::move(*found);
  const group::CommitIdentity identity{
      group::GenerationId(request.generation_id_or_member_epoch), request.member_id,
      header.api_version >= 7 ? request.group_instance_id : std::nullopt, false};
  auto existing = shard->groups.find(request.group_id);
  if (existing == shard->groups.end() && identity.generation >= group::GenerationId(0)) {
    // Kafka: a generation names a group that must exist.
    return answer_all(header.api_version >= 9 ? ErrorCode::group_id_not_found
                                              : ErrorCode::illegal_generation);
  }
  // Unknown with generation -1: a simple consumer's (or an admin's) commit creates the
  // group, Empty, as Kafka does.
  CoordinatedGroup& entry = group_entry(*shard, request.group_id);
  if (entry.consumer_members() || (entry.is_consumer_group() && !request.member_id.empty())) {
    // KIP-848: the generation field carries the member epoch.
    ErrorCode refused = entry.consumer->validate_offset_commit(
        request.member_id, request.generation_id_or_member_epoch);
    if (refused == ErrorCode::stale_member_epoch && header.api_version < 9) {
      refused = ErrorCode::illegal_generation;  // what older clients know
    }
    if (refused != ErrorCode::none) return answer_all(refused);
  } else if (const ErrorCode refused = entry.group->validate_offset_commit(identity);
             refused != ErrorCode::none) {
    return answer_all(refused);
  }
  const int64_t now_ms = env_.clock.wall_now().milliseconds;
  std::vector<group::OffsetsRecord> records;
  // Where each accepted partition's answer goes once the append is decided.
  std::vector<std::pair<size_t, size_t>> accepted;
  for (const auto& topic : request.topics) {
    auto& topic_response = response->topics.emplace_back();
    topic_response.name = topic.name;
    for (const auto& p : topic.partitions) {
      auto& result = topic_response.partitions.emplace_back();
      result.partition_index = p.partition_index;
      group::CommittedOffset committed;
      committed.offset = record::Offset(p.committed_offset);
      committed.leader_epoch = LeaderEpoch(header.api_version >= 6 ? p.committed_leader_epoch : -1);
      committed.metadata = p.committed_metadata.value_or("");
      committed.commit_timestamp_ms = now_ms;
      const ErrorCode invalid =
          group::GroupOffsets::validate_commit(committed, kOffsetMetadataBytesMax);
      if (invalid != ErrorCode::none) {
        result.error_code = error_value(invalid);
        continue;
      }
      const group::TopicPartition partition{topic.name, PartitionId(p.partition_index)};
      records.push_back(entry.offsets.commit_record(partition, committed));
      accepted.emplace_back(response->topics.size() - 1, topic_response.partitions.size() - 1);
    }
  }
  if (records.empty()) return answer_now(std::move(*response));
  if (hooks_.group_flaws.commit_before_durable) {
    // The flaw: visible and acknowledged now; the append may still be lost.
    for (const group::OffsetsRecord& record : records) {
      std::optional<group::OffsetCommitValue> value;
      if (record.value) value = std::get<group::OffsetCommitValue>(*record.value);
      entry.offsets.replay(std::get<group::OffsetCommitKey>(record.key), value);
    }
    persist(*shard, PersistItem{records, [](GroupShard&, std::optional<group::PersistFailure>) {}});
    return answer_now(std::move(*response));
  }
  auto promise = std::make_shared<runtime::Promise<protocol::ResponseBody>>(env_.scheduler);
  auto future = promise->future();
  // Once committed, the records are replayed (GroupOffsets::replay, the path a load
  // takes too), so OffsetFetch sees the commit exactly when it is durable.
  PersistItem item{
      records,
      [response, promise, records, accepted = std::move(accepted), group_id = request.group_id](
          GroupShard& owner, std::optional<group::PersistFailure> failure) {
        auto it = owner.groups.find(group_id);
        if (!failure && owner.active && it != owner.groups.end()) {
          for (const group::OffsetsRecord& record : records) {
            std::optional<group::OffsetCommitValue> value;
            if (record.value) value = std::get<group::OffsetCommitValue>(*record.value);
            it->second.offsets.replay(std::get<group::OffsetCommitKey>(record.key), value);
          }
        }
        const ErrorCode code = failure ? commit_error(*failure) : ErrorCode::none;
        for (const auto& [t, p] : accepted) {
          response->topics[t].partitions[p].error_code = error_value(code);
        }
        promise->set(protocol::ResponseBody(std::move(*response)));
      }};
  persist(*shard, std::move(item));
  return Reply{std::nullopt, std::move(future)};
}

Reply Broker::offset_fetch(const protocol::RequestHeader& header,
                           protocol::OffsetFetchRequest&& request) {
  // The shards the request reads, each to be confirmed as still led before it answers:
  // a coordinator deposed without knowing it (cut off from the controller) would
  // answer from what it held, missing commits its successor acknowledged since (groups
  // seeds 586, 614). Committed offsets read here are linearizable, which Kafka's are not.
  std::vector<std::string> group_ids;
  if (header.api_version >= 8) {
    for (const auto& wanted : request.groups) group_ids.push_back(wanted.group_id);
  } else {
    group_ids.push_back(request.group_id);
  }
  absl::btree_map<int32_t, std::shared_ptr<GroupShard>> shards;
  for (const std::string& group_id : group_ids) {
    if (group_id.empty()) continue;
    if (auto found = coordinator_shard(group_id)) shards.emplace((*found)->partition, *found);
  }
  if (shards.empty()) return answer_now(offset_fetch_answer(header, request, {}));
  auto promise = std::make_shared<runtime::Promise<protocol::ResponseBody>>(env_.scheduler);
  auto future = promise->future();
  spawn("offset-fetch", [this, header, request = std::move(request), shards, promise] {
    const runtime::Instant deadline = env_.clock.now() + kLeadershipCheckTimeout;
    absl::btree_map<int32_t, LeaderEpoch> confirmed;
    for (const auto& [index, shard] : shards) {
      std::shared_ptr<Partition> partition = topics_.partition(kOffsetsTopic, index);
      if (partition != nullptr && confirm_leadership_wait(partition, shard->epoch, deadline)) {
        confirmed.emplace(index, shard->epoch);
      }
    }
    promise->set(offset_fetch_answer(header, request, confirmed));
  });
  return Reply{std::nullopt, std::move(future)};
}

protocol::ResponseBody Broker::offset_fetch_answer(
    const protocol::RequestHeader& header, const protocol::OffsetFetchRequest& request,
    const absl::btree_map<int32_t, LeaderEpoch>& confirmed) {
  const int16_t version = header.api_version;
  // One group's answer in the v8+ shape; older versions are mapped from it below.
  using Group = protocol::OffsetFetchResponse::OffsetFetchResponseGroup;
  auto fetch_group =
      [&](const std::string& group_id,
          const std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>>& wanted) {
        Group answer;
        answer.group_id = group_id;
        if (group_id.empty()) {
          answer.error_code = error_value(ErrorCode::invalid_group_id);
          return answer;
        }
        auto found = coordinator_shard(group_id);
        if (!found) {
          answer.error_code = error_value(found.error());
          return answer;
        }
        const GroupShard& shard = **found;
        if (auto led = confirmed.find(shard.partition);
            led == confirmed.end() || led->second != shard.epoch) {
          answer.error_code = error_value(ErrorCode::not_coordinator);
          return answer;
        }
        auto it = shard.groups.find(group_id);
        const group::GroupOffsets* offsets =
            it == shard.groups.end() ? nullptr : &it->second.offsets;
        auto add = [&](const std::string& topic, int32_t index) {
          if (answer.topics.empty() || answer.topics.back().name != topic) {
            answer.topics.emplace_back().name = topic;
          }
          auto& p = answer.topics.back().partitions.emplace_back();
          p.partition_index = index;
          p.committed_offset = -1;
          p.committed_leader_epoch = -1;
          p.metadata = std::string();
          const group::CommittedOffset* committed =
              offsets == nullptr ? nullptr
                                 : offsets->fetch(group::TopicPartition{topic, PartitionId(index)});
          if (committed != nullptr) {
            p.committed_offset = committed->offset.value();
            p.committed_leader_epoch = committed->leader_epoch.value();
            p.metadata = committed->metadata;
          }
        };
        if (wanted) {
          for (const auto& [topic, partitions] : *wanted) {
            for (int32_t index : partitions) add(topic, index);
          }
        } else if (offsets != nullptr) {
          for (const auto& [partition, committed] : offsets->all()) {
            add(partition.topic, partition.partition.value());
          }
        }
        return answer;
      };
  protocol::OffsetFetchResponse response;
  if (version >= 8) {
    for (const auto& wanted : request.groups) {
      std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>> topics;
      if (wanted.topics) {
        topics.emplace();
        for (const auto& topic : *wanted.topics) {
          topics->emplace_back(topic.name, topic.partition_indexes);
        }
      }
      response.groups.push_back(fetch_group(wanted.group_id, topics));
    }
    return response;
  }
  std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>> topics;
  if (request.topics) {
    topics.emplace();
    for (const auto& topic : *request.topics) {
      topics->emplace_back(topic.name, topic.partition_indexes);
    }
  }
  Group answer = fetch_group(request.group_id, topics);
  if (version >= 2) response.error_code = answer.error_code;
  for (const auto& topic : answer.topics) {
    auto& topic_response = response.topics.emplace_back();
    topic_response.name = topic.name;
    for (const auto& p : topic.partitions) {
      auto& result = topic_response.partitions.emplace_back();
      result.partition_index = p.partition_index;
      result.committed_offset = p.committed_offset;
      result.committed_leader_epoch = p.committed_leader_epoch;
      result.metadata = p.metadata;
      result.error_code = p.error_code;
    }
  }
  if (version < 2 && answer.error_code != 0 && topics) {
    // v1 has no top-level error: each partition asked for carries it.
    for (const auto& [name, partitions] : *topics) {
      auto& topic_response = response.topics.emplace_back();
      topic_response.name = name;
      for (int32_t index : partitions) {
        auto& result = topic_response.partitions.emplace_back();
        result.partition_index = index;
        result.committed_offset = -1;
        result.metadata = std::string();
        result.error_code = answer.error_code;
      }
    }
  }
  return response;
}

Reply Broker::offset_delete(const protocol::RequestHeader& /*header*/,
                            protocol::OffsetDeleteRequest&& request) {
  auto response = std::make_shared<protocol::OffsetDeleteResponse>();
  auto fail = [&](ErrorCode code) {
    response->error_code = error_value(code);
    return answer_now(std::move(*response));
  };
  if (request.group_id.empty()) return fail(ErrorCode::invalid_group_id);
  auto found = coordinator_shard(request.group_id);
  if (!found) return fail(found.error());
  std::shared_ptr<GroupShard> shard = std::move(*found);
  auto it = shard->groups.find(request.group_id);
  if (it == shard->groups.end()) return fail(ErrorCode::group_id_not_found);
  CoordinatedGroup& entry = it->second;
  // Kafka: only an Empty group, or offsets of topics the group does not consume (weir
  // cannot read subscriptions yet, so a group with members refuses every partition).
  const bool empty = entry.group->state() == group::GroupState::empty;
  std::vector<group::OffsetsRecord> records;
  for (const auto& topic : request.topics) {
    auto& topic_response = response->topics.emplace_back();
    topic_response.name = topic.name;
    for (const auto& p : topic.partitions) {
      auto& result = topic_response.partitions.emplace_back();
      result.partition_index = p.partition_index;
      if (!empty) {
        result.error_code = error_value(ErrorCode::group_subscribed_to_topic);
        continue;
      }
      const group::TopicPartition partition{topic.name, PartitionId(p.partition_index)};
      if (entry.offsets.fetch(partition) != nullptr) {
        records.push_back(entry.offsets.delete_record(partition));
      }
    }
  }
  if (records.empty()) return answer_now(std::move(*response));
  auto promise = std::make_shared<runtime::Promise<protocol::ResponseBody>>(env_.scheduler);
  auto future = promise->future();
  persist(*shard, PersistItem{records,
                              [response, promise, records, group_id = request.group_id](
                                  GroupShard& owner, std::optional<group::PersistFailure> failure) {
                                if (failure) {
                                  response->error_code = error_value(commit_error(*failure));
                                } else if (auto known = owner.groups.find(group_id);
                                           owner.active && known != owner.groups.end()) {
                                  for (const group::OffsetsRecord& record : records) {
                                    known->second.offsets.replay(
                                        std::get<group::OffsetCommitKey>(record.key), std::nullopt);
                                  }
                                }
                                promise->set(protocol::ResponseBody(std::move(*response)));
                              }});
  return Reply{std::nullopt, std::move(future)};
}

// --- ListGroups, DescribeGroups, DeleteGroups ---------------------------------------------

protocol::ResponseBody Broker::list_groups(const protocol::RequestHeader& header,
                                           const protocol::ListGroupsRequest& request) {
  protocol::ListGroupsResponse response;
  const bool by_type = header.api_version >= 5 && !request.types_filter.empty();
  auto type_wanted = [&](std::string_view type) {
    return !by_type || std::any_of(request.types_filter.begin(), request.types_filter.end(),
                                   [&](const std::string& wanted) {
                                     return equals_ignoring_case(wanted, type);
                                   });
  };
  for (const auto& [index, shard] : group_shards_) {
    if (!shard->loaded) {
      response.error_code = error_value(ErrorCode::coordinator_load_in_progress);
      continue;
    }
    for (const auto& [group_id, entry] : shard->groups) {
      const bool consumer = entry.is_consumer_group();
      if (!type_wanted(consumer ? kConsumerGroupType : kClassicGroupType)) continue;
      const char* state = consumer ? group::to_string(entry.consumer->state())
                                   : group::to_string(entry.group->state());
      if (header.api_version >= 4 && !request.states_filter.empty() &&
          std::none_of(
              request.states_filter.begin(), request.states_filter.end(),
              [&](const std::string& wanted) { return equals_ignoring_case(wanted, state); })) {
        continue;
      }
      auto& listed = response.groups.emplace_back();
      listed.group_id = group_id;
      listed.protocol_type =
          consumer ? std::string("consumer") : entry.group->protocol_type().value_or("");
      listed.group_state = state;
      listed.group_type = std::string(consumer ? kConsumerGroupType : kClassicGroupType);
    }
  }
  return response;
}

protocol::ResponseBody Broker::describe_groups(const protocol::RequestHeader& header,
                                               const protocol::DescribeGroupsRequest& request) {
  protocol::DescribeGroupsResponse response;
  for (const std::string& group_id : request.groups) {
    auto& described = response.groups.emplace_back();
    described.group_id = group_id;
    auto fail = [&](ErrorCode code) {
      described.error_code = error_value(code);
      described.group_state = "Dead";
    };
    if (group_id.empty()) {
      fail(ErrorCode::invalid_group_id);
      continue;
    }
    auto found = coordinator_shard(group_id);
    if (!found) {
      fail(found.error());
      continue;
    }
    auto it = (*found)->groups.find(group_id);
    if (it == (*found)->groups.end()) {
      // Kafka describes an unknown group as Dead; v6+ says so with an error.
      described.group_state = "Dead";
      if (header.api_version >= 6) {
        described.error_code = error_value(ErrorCode::group_id_not_found);
        described.error_message = fmt::format("group {} not found", group_id);
      }
      continue;
    }
    if (it->second.is_consumer_group()) {
      // Kafka: DescribeGroups is the classic protocol's; ConsumerGroupDescribe tells more.
      described.group_state = "Dead";
      if (header.api_version >= 6) {
        described.error_code = error_value(ErrorCode::group_id_not_found);
        described.error_message = fmt::format("Group {} is not a classic group.", group_id);
      }
      continue;
    }
    const group::ClassicGroup& group = *it->second.group;
    described.group_state = group::to_string(group.state());
    described.protocol_type = group.protocol_type().value_or("");
    const bool stable = group.state() == group::GroupState::stable;
    described.protocol_data = stable ? group.protocol_name().value_or("") : "";
    for (const auto& [member_id, member] : group.members()) {
      auto& entry = described.members.emplace_back();
      entry.member_id = member_id;
      entry.group_instance_id = member.group_instance_id;
      entry.client_id = member.client_id;
      entry.client_host = member.client_host;
      // Kafka includes metadata and assignment only once the group is Stable.
      if (stable) {
        entry.member_metadata = protocol_metadata(member, group.protocol_name());
        entry.member_assignment = member.assignment;
      }
    }
  }
  return response;
}

Reply Broker::delete_groups(const protocol::RequestHeader& /*header*/,
                            protocol::DeleteGroupsRequest&& request) {
  auto response = std::make_shared<protocol::DeleteGroupsResponse>();
  // Answers still to come from appends; the response goes when it reaches zero.
  auto pending = std::make_shared<size_t>(0);
  auto promise = std::make_shared<runtime::Promise<protocol::ResponseBody>>(env_.scheduler);
  auto future = promise->future();
  std::vector<std::pair<std::shared_ptr<GroupShard>, std::pair<size_t, std::string>>> deletions;
  for (const std::string& group_id : request.groups_names) {
    auto& result = response->results.emplace_back();
    result.group_id = group_id;
    if (group_id.empty()) {
      result.error_code = error_value(ErrorCode::invalid_group_id);
      continue;
    }
    auto found = coordinator_shard(group_id);
    if (!found) {
      result.error_code = error_value(found.error());
      continue;
    }
    auto it = (*found)->groups.find(group_id);
    if (it == (*found)->groups.end() || it->second.group->state() == group::GroupState::dead) {
      result.error_code = error_value(ErrorCode::group_id_not_found);
      continue;
    }
    if (it->second.group->state() != group::GroupState::empty || it->second.consumer_members()) {
      result.error_code = error_value(ErrorCode::non_empty_group);
      continue;
    }
    deletions.emplace_back(*found, std::pair{response->results.size() - 1, group_id});
  }
  if (deletions.empty()) return answer_now(std::move(*response));
  *pending = deletions.size();
  for (auto& [shard, target] : deletions) {
    const auto& [slot, group_id] = target;
    CoordinatedGroup& entry = shard->groups.at(group_id);
    // Tombstones for every offset and for the group itself (a consumer group's every
    // record), in one batch.
    std::vector<group::OffsetsRecord> records;
    for (const auto& [partition, committed] : entry.offsets.all()) {
      records.push_back(entry.offsets.delete_record(partition));
    }
    records.push_back(group::OffsetsRecord{group::GroupMetadataKey{group_id}, std::nullopt});
    entry.consumer.reset();
    std::vector<group::OffsetsRecord> consumer = consumer_record_changes(entry);
    std::vector<group::ConsumerGroupKey> consumer_keys;
    for (group::OffsetsRecord& record : consumer) {
      consumer_keys.push_back(std::get<group::ConsumerGroupKey>(record.key));
      records.push_back(std::move(record));
    }
    persist(*shard,
            PersistItem{std::move(records),
                        [response, pending, promise, slot = slot, group_id = group_id,
                         consumer_keys = std::move(consumer_keys)](
                            GroupShard& owner, std::optional<group::PersistFailure> failure) {
                          auto& result = response->results[slot];
                          if (failure) {
                            consumer_records_failed(owner, group_id, consumer_keys);
                            result.error_code = error_value(commit_error(*failure));
                          } else if (owner.active) {
                            // Gone unless someone joined meanwhile.
                            auto it = owner.groups.find(group_id);
                            if (it != owner.groups.end() &&
                                it->second.group->state() == group::GroupState::empty &&
                                !it->second.consumer_members()) {
                              owner.groups.erase(it);
                            }
                          }
                          if (--*pending == 0) {
                            promise->set(protocol::ResponseBody(std::move(*response)));
                          }
                        }});
  }
  return Reply{std::nullopt, std::move(future)};
}

}  // namespace weir::broker
