// KIP-848 consumer groups: ConsumerGroupHeartbeat and ConsumerGroupDescribe over the
// pure group::ConsumerGroup, in the same shards as the classic groups (a group lives on
// its __consumer_offsets partition's leader either way; group_shard.h).
//
// A group's state is Kafka's consumer group records in __consumer_offsets
// (ConsumerGroup::records()). After each heartbeat or timer tick the coordinator appends
// the records that changed (persist_consumer_group) and answers the heartbeat once they
// are committed — or, when nothing changed, once what the shard queued before is: an
// answer may reveal state (an assignment another member's heartbeat computed) that an
// earlier append holds. So whatever a member was told survives a coordinator failover:
// the new coordinator replays the records and restores the group (load_shard), every
// session restarted. A group found at load with committed offsets but no records of its
// state (written by an older weir) gets no assignment until a session timeout after the
// load, so no old member still holds what it hands out (the groups-consumer workload's
// exclusive-ownership checker found the overlap this prevents). Committed offsets are
// records like a classic group's, checked against the member epoch (OffsetCommit in
// api_group.cc).
//
// One group id is one protocol's at a time, as in Kafka: a heartbeat to a classic group
// with members gets GROUP_ID_NOT_FOUND, a JoinGroup to a consumer group with members
// INCONSISTENT_GROUP_PROTOCOL; an empty group of either kind becomes the other's.
#include <fmt/format.h>

#include "broker/broker.h"
#include "metadata/topic_name.h"

namespace weir::broker {

using protocol::ErrorCode;
using protocol::error_value;

group::ConsumerGroupSettings Broker::consumer_group_settings(const std::string& group_id,
                                                             LeaderEpoch epoch) const {
  const config::BrokerConfig& config = settings_.config;
  group::ConsumerGroupSettings settings;
  settings.group_id = group_id;
  settings.coordinator_epoch = epoch.value();
  settings.max_size = config.group_consumer_max_size;
  settings.session_timeout = runtime::milliseconds(config.group_consumer_session_timeout_ms);
  settings.heartbeat_interval = runtime::milliseconds(config.group_consumer_heartbeat_interval_ms);
  settings.flaw_assign_before_revoke = hooks_.group_flaws.assign_before_revoke;
  if (!config.group_consumer_assignors.empty()) {
    settings.default_assignor = group::parse_assignor(config.group_consumer_assignors.front())
                                    .value_or(group::AssignorKind::uniform);
  }
  return settings;
}

group::TopicImage Broker::consumer_group_topics(const absl::btree_set<std::string>& names) const {
  group::TopicImage out;
  const metadata::Image& image = link_.image();
  for (const std::string& name : names) {
    if (metadata::is_internal_topic(name)) continue;  // never a consumer's to own
    const metadata::TopicImage* topic = image.topic(name);
    if (topic == nullptr) continue;
    out.emplace(name,
                group::TopicShape{topic->id.uuid, static_cast<int32_t>(topic->partitions.size())});
  }
  return out;
}

void Broker::restore_consumer_group(GroupShard& shard, const std::string& group_id,
                                    const group::StoredConsumerGroup& stored) {
  CoordinatedGroup& entry = group_entry(shard, group_id);
  // What the partition holds, so the first append writes only what changed (and
  // tombstones what the restored group no longer has).
  for (const group::OffsetsRecord& record : stored.records(group_id)) {
    entry.consumer_written[std::get<group::ConsumerGroupKey>(record.key)] =
        WrittenRecord{record.value, false};
  }
  std::optional<group::ConsumerGroup> restored = group::ConsumerGroup::restore(
      consumer_group_settings(group_id, shard.epoch), stored, env_.clock.now());
  if (!restored) {
    // Its next heartbeat makes it afresh (after a session, as for a group of unknown
    // state) and tombstones these records.
    if (hooks_.report) {
      hooks_.report(fmt::format("{}-{}: the records of consumer group {} contradict each other; "
                                "it starts afresh",
                                kOffsetsTopic, shard.partition, group_id));
    }
    return;
  }
  entry.consumer = std::make_unique<group::ConsumerGroup>(std::move(*restored));
}

void Broker::tick_consumer_group(GroupShard& shard, const std::string& group_id) {
  auto it = shard.groups.find(group_id);
  if (it == shard.groups.end() || it->second.consumer == nullptr) return;
  const std::vector<std::string> removed = it->second.consumer->tick(
      env_.clock.now(), consumer_group_topics(it->second.consumer->subscribed_topics()));
  if (hooks_.on_consumer_member_removed) {
    for (const std::string& member_id : removed) {
      hooks_.on_consumer_member_removed(group_id, member_id);
    }
  }
  persist_consumer_group(shard, group_id, nullptr);
}

std::vector<group::OffsetsRecord> Broker::consumer_record_changes(CoordinatedGroup& entry) {
  std::vector<group::OffsetsRecord> changes;
  absl::btree_set<group::ConsumerGroupKey> present;
  if (entry.consumer != nullptr) {
    for (group::OffsetsRecord& record : entry.consumer->records()) {
      const auto& key = std::get<group::ConsumerGroupKey>(record.key);
      present.insert(key);
      auto [written, fresh] = entry.consumer_written.try_emplace(key);
      if (!fresh && !written->second.uncertain && written->second.value == record.value) continue;
      written->second = WrittenRecord{record.value, false};
      changes.push_back(std::move(record));
    }
  }
  for (auto it = entry.consumer_written.begin(); it != entry.consumer_written.end();) {
    if (present.contains(it->first)) {
      ++it;
      continue;
    }
    if (it->second.value || it->second.uncertain) {
      changes.push_back(group::OffsetsRecord{it->first, std::nullopt});
    }
    it = entry.consumer_written.erase(it);
  }
  return changes;
}

void Broker::consumer_records_failed(GroupShard& shard, const std::string& group_id,
                                     const std::vector<group::ConsumerGroupKey>& keys) {
  auto it = shard.groups.find(group_id);
  if (!shard.active || it == shard.groups.end()) return;
  for (const group::ConsumerGroupKey& key : keys) it->second.consumer_written[key].uncertain = true;
}

namespace {

std::vector<group::ConsumerGroupKey> consumer_keys(
    const std::vector<group::OffsetsRecord>& records) {
  std::vector<group::ConsumerGroupKey> keys;
  for (const group::OffsetsRecord& record : records) {
    if (const auto* key = std::get_if<group::ConsumerGroupKey>(&record.key)) keys.push_back(*key);
  }
  return keys;
}

}  // namespace

void Broker::persist_consumer_group(
    GroupShard& shard, const std::string& group_id,
    std::function<void(std::optional<group::PersistFailure>)> done) {
  std::vector<group::OffsetsRecord> changes;
  if (auto it = shard.groups.find(group_id); it != shard.groups.end()) {
    changes = consumer_record_changes(it->second);
  }
  if (changes.empty() && (done == nullptr || (shard.persists.empty() && !shard.appending))) {
    if (done) done(std::nullopt);
    return;
  }
  // With no changes, an empty item: it completes once every item before it has.
  std::vector<group::ConsumerGroupKey> keys = consumer_keys(changes);
  persist(shard, PersistItem{std::move(changes),
                             [this, group_id, keys = std::move(keys), done = std::move(done)](
                                 GroupShard& owner, std::optional<group::PersistFailure> failure) {
                               if (failure) consumer_records_failed(owner, group_id, keys);
                               if (done) done(failure);
                             }});
}

Reply Broker::consumer_group_heartbeat(const protocol::RequestHeader& header,
                                       const protocol::ConsumerGroupHeartbeatRequest& request) {
  protocol::ConsumerGroupHeartbeatResponse response;
  response.heartbeat_interval_ms = settings_.config.group_consumer_heartbeat_interval_ms;
  auto fail = [&](ErrorCode code, std::optional<std::string> message = std::nullopt) {
    response.error_code = error_value(code);
    response.error_message = std::move(message);
    return Reply{protocol::ResponseBody(std::move(response)), std::nullopt};
  };
  if (request.group_id.empty()) return fail(ErrorCode::invalid_request, "GroupId can't be empty.");
  if (request.subscribed_topic_regex) {
    return fail(ErrorCode::invalid_request,
                "SubscribedTopicRegex is not supported by weir yet: subscribe by topic names.");
  }
  if (header.api_version >= 1 && request.member_id.empty()) {
    // v1 members make their own id (a UUID) before the first heartbeat.
    return fail(ErrorCode::invalid_request, "MemberId can't be empty.");
  }
  auto found = coordinator_shard(request.group_id);
  if (!found) return fail(found.error());
  GroupShard& shard = **found;
  if (auto it = shard.groups.find(request.group_id);
      it != shard.groups.end() && !it->second.is_consumer_group() &&
      it->second.group->state() != group::GroupState::empty) {
    return fail(ErrorCode::group_id_not_found,
                fmt::format("Group {} is not a consumer group.", request.group_id));
  }
  // A group the load found (its committed offsets) may have had members under the
  // previous coordinator, whose assignments this one does not know (not persisted yet).
  const bool known_at_load = shard.groups.contains(request.group_id);
  CoordinatedGroup& entry = group_entry(shard, request.group_id);
  if (entry.consumer == nullptr) {
    group::ConsumerGroupSettings settings = consumer_group_settings(request.group_id, shard.epoch);
    if (known_at_load && !hooks_.group_flaws.forget_consumer_groups) {
      settings.assign_after = shard.loaded_at + settings.session_timeout;
    }
    entry.consumer = std::make_unique<group::ConsumerGroup>(std::move(settings));
  }

  group::ConsumerHeartbeat beat;
  beat.member_id = request.member_id;
  beat.member_epoch = request.member_epoch;
  beat.client_id = header.client_id.value_or("");
  beat.client_host = "";  // the peer's address does not reach handlers yet
  beat.instance_id = request.instance_id;
  beat.rack_id = request.rack_id;
  beat.rebalance_timeout_ms = request.rebalance_timeout_ms;
  beat.subscribed_topic_names = request.subscribed_topic_names;
  beat.server_assignor = request.server_assignor;
  if (request.topic_partitions) {
    group::TopicPartitions owned;
    for (const auto& topic : *request.topic_partitions) {
      owned[topic.topic_id].insert(topic.partitions.begin(), topic.partitions.end());
    }
    beat.owned = std::move(owned);
  }
  absl::btree_set<std::string> names = entry.consumer->subscribed_topics();
  if (request.subscribed_topic_names) {
    names.insert(request.subscribed_topic_names->begin(), request.subscribed_topic_names->end());
  }
  const group::ConsumerHeartbeatResult result =
      entry.consumer->heartbeat(beat, env_.clock.now(), consumer_group_topics(names));
  // The shard's timer ticks the group at its next deadline (a session's end).
  if (const runtime::Instant next = entry.consumer->next_deadline(); next < shard.timer_deadline) {
    shard.timer_deadline = next;
    shard.timer_wake.notify_all();
  }
  // A refused heartbeat changed nothing and reveals nothing: answered at once.
  if (result.error != ErrorCode::none) return fail(result.error, result.error_message);
  response.member_id = result.member_id;
  response.member_epoch = result.member_epoch;
  response.heartbeat_interval_ms = result.heartbeat_interval_ms;
  if (result.assignment) {
    auto& assignment = response.assignment.emplace();
    for (const auto& [topic, partitions] : *result.assignment) {
      if (partitions.empty()) continue;
      auto& entry_out = assignment.topic_partitions.emplace_back();
      entry_out.topic_id = topic;
      entry_out.partitions.assign(partitions.begin(), partitions.end());
    }
  }
  auto promise = std::make_shared<runtime::Promise<protocol::ResponseBody>>(env_.scheduler);
  auto future = promise->future();
  persist_consumer_group(
      shard, request.group_id,
      [promise, response = std::move(response)](
          std::optional<group::PersistFailure> failure) mutable {
        if (failure) {
          protocol::ConsumerGroupHeartbeatResponse failed;
          failed.error_code = error_value(group::to_error_code(*failure));
          failed.heartbeat_interval_ms = response.heartbeat_interval_ms;
          promise->set(protocol::ResponseBody(std::move(failed)));
          return;
        }
        promise->set(protocol::ResponseBody(std::move(response)));
      });
  if (future.ready()) return Reply{*future.get(), std::nullopt};
  return Reply{std::nullopt, std::move(future)};
}

protocol::ResponseBody Broker::consumer_group_describe(
    const protocol::RequestHeader& /*header*/,
    const protocol::ConsumerGroupDescribeRequest& request) {
  protocol::ConsumerGroupDescribeResponse response;
  const metadata::Image& image = link_.image();
  using Assignment = protocol::ConsumerGroupDescribeResponse::Assignment;
  auto to_wire = [&](const group::TopicPartitions& partitions) {
    Assignment out;
    for (const auto& [topic, set] : partitions) {
      if (set.empty()) continue;
      auto& entry = out.topic_partitions.emplace_back();
      entry.topic_id = topic;
      const metadata::TopicImage* known = image.topic(metadata::TopicId{topic});
      entry.topic_name = known != nullptr ? known->name : "";
      entry.partitions.assign(set.begin(), set.end());
    }
    return out;
  };
  for (const std::string& group_id : request.group_ids) {
    auto& described = response.groups.emplace_back();
    described.group_id = group_id;
    auto fail = [&](ErrorCode code, std::optional<std::string> message = std::nullopt) {
      described.error_code = error_value(code);
      described.error_message = std::move(message);
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
    if (it == (*found)->groups.end() || !it->second.is_consumer_group()) {
      fail(ErrorCode::group_id_not_found, fmt::format("Group {} not found.", group_id));
      continue;
    }
    const group::ConsumerGroup& group = *it->second.consumer;
    described.group_state = group::to_string(group.state());
    described.group_epoch = group.group_epoch();
    described.assignment_epoch = group.assignment_epoch();
    described.assignor_name = group::to_string(group.assignor());
    for (const auto& [member_id, member] : group.members()) {
      auto& out = described.members.emplace_back();
      out.member_id = member_id;
      out.instance_id = member.instance_id;
      out.rack_id = member.rack_id;
      out.member_epoch = member.member_epoch;
      out.client_id = member.client_id;
      out.client_host = member.client_host;
      out.subscribed_topic_names = member.subscribed_topic_names;
      out.assignment = to_wire(member.assigned);
      auto target = group.target().find(member_id);
      out.target_assignment = to_wire(target != group.target().end() ? target->second
                                                                      : group::TopicPartitions{});
      out.member_type = 1;  // a consumer-protocol member (v1: 0 is classic)
    }
  }
  return response;
}

}  // namespace weir::broker
