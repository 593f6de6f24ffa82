#include "metadata/controller.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "config/topic_config.h"
#include "metadata/placement.h"
#include "metadata/topic_name.h"
#include "protocol/errors.h"

namespace weir::metadata {
namespace {

using protocol::error_value;
using protocol::ErrorCode;

// A request entry refused with Kafka's error code and message.
struct Failure {
  ErrorCode code = ErrorCode::none;
  std::string message;
};

// Kafka's Topic.validate, with its messages.
std::optional<Failure> check_topic_name(std::string_view name) {
  auto reason = invalid_topic_name_reason(name);
  if (!reason) return std::nullopt;
  return Failure{ErrorCode::invalid_topic_exception, std::move(*reason)};
}

// Kafka forbids topics whose names differ only in '.' versus '_' (metric names collide).
std::string metric_name(std::string_view topic) {
  std::string name(topic);
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

bool parse_bool_config(std::string_view value) {
  // Kafka's boolean configs are case-insensitive "true"/"false"; TopicConfig has
  // validated the stored value already.
  return value.size() == 4 && (value[0] == 't' || value[0] == 'T') &&
         (value[1] == 'r' || value[1] == 'R') && (value[2] == 'u' || value[2] == 'U') &&
         (value[3] == 'e' || value[3] == 'E');
}

PartitionRecord make_partition_record(TopicId topic, int32_t index,
                                      const std::vector<BrokerId>& replicas,
                                      const std::vector<BrokerId>& isr) {
  VERIFY(!replicas.empty());
  VERIFY(!isr.empty(), "a new partition starts with a leader");
  PartitionRecord record;
  record.partition_id = PartitionId(index);
  record.topic_id = topic;
  record.replicas = replicas;
  record.isr = isr;
  record.leader = isr.front();
  record.leader_epoch = LeaderEpoch(0);
  record.partition_epoch = PartitionEpoch(0);
  record.directories.assign(replicas.size(), unassigned_directory());
  return record;
}

template <typename Entries>
bool has_duplicate_names(const Entries& entries, std::string_view name) {
  int count = 0;
  for (const auto& entry : entries) count += entry.name == name ? 1 : 0;
  return count > 1;
}

std::vector<ConfigRecord> config_changes(const std::string& topic, const ConfigMap& before,
                                         const ConfigMap& after) {
  std::vector<ConfigRecord> records;
  for (const auto& [key, value] : after) {
    auto it = before.find(key);
    if (it != before.end() && it->second == value) continue;
    records.push_back(ConfigRecord{ConfigResourceType::topic, topic, key, value});
  }
  for (const auto& [key, value] : before) {
    if (!after.contains(key)) {
      records.push_back(ConfigRecord{ConfigResourceType::topic, topic, key, std::nullopt});
    }
  }
  return records;
}

}  // namespace

ControllerSettings ControllerSettings::from(const config::BrokerConfig& config,
                                            std::string cluster_id) {
  ControllerSettings settings;
  settings.cluster_id = std::move(cluster_id);
  settings.num_partitions = config.num_partitions;
  settings.default_replication_factor =
      static_cast<int16_t>(std::clamp<int32_t>(config.default_replication_factor, 1, INT16_MAX));
  settings.broker_session_timeout_ms = config.broker_session_timeout_ms;
  settings.unclean_leader_election_enable = config.unclean_leader_election_enable;
  settings.delete_topic_enable = config.delete_topic_enable;
  settings.auto_leader_rebalance = config.auto_leader_rebalance_enable;
  settings.leader_imbalance_check_interval_ms =
      config.leader_imbalance_check_interval_seconds * 1000;
  settings.eligible_leader_replicas = config.eligible_leader_replicas_version >= 1;
  settings.node_id = config.node_id;
  settings.colocated_broker = config.broker_role && config.controller_role;
  settings.broker_config = config;
  return settings;
}

Controller::Controller(ControllerSettings settings, runtime::Random& random)
    : settings_(std::move(settings)), random_(random) {
  VERIFY(settings_.broker_session_timeout_ms > 0);
  VERIFY(settings_.num_partitions > 0);
  VERIFY(settings_.default_replication_factor > 0);
}

void Controller::reset_to(const MetadataState& committed, int64_t now_ms) {
  working_ = committed;
  sessions_.clear();
  term_start_ms_ = now_ms;
  next_rebalance_ms_ = -1;
  VERIFY(working_.digest() == committed.digest());
}

void Controller::replay(const Record& record) {
  auto applied = working_.apply(record);
  VERIFY(applied.ok(), "a committed {} does not apply: {}", record_name(record),
         applied.ok() ? "" : applied.error());
}

void Controller::emit(Record record, std::vector<Record>& out) {
  auto applied = working_.apply(record);
  VERIFY(applied.ok(), "the controller generated a {} that does not apply: {}", record_name(record),
         applied.ok() ? "" : applied.error());
  out.push_back(std::move(record));
}

bool Controller::unclean_allowed(const TopicImage& topic) const {
  const ConfigMap& overrides = image().topic_config(topic.name);
  auto it = overrides.find("unclean.leader.election.enable");
  if (it == overrides.end()) return settings_.unclean_leader_election_enable;
  return parse_bool_config(it->second);
}

int32_t Controller::min_insync_replicas(const TopicImage& topic) const {
  auto config = config::TopicConfig::make(image().topic_config(topic.name));
  VERIFY(config.ok(), "a committed topic config does not parse");
  return config->min_insync_replicas(settings_.broker_config);
}

std::vector<BrokerId> Controller::eligible_leader_replicas(const TopicImage& topic,
                                                           const PartitionState& partition,
                                                           const std::vector<BrokerId>& replicas,
                                                           const std::vector<BrokerId>& isr,
                                                           BrokerId unclean_shutdown) const {
  std::vector<BrokerId> elr;
  if (!image().eligible_leader_replicas_enabled()) return elr;
  // At or above the minimum the high watermark moves without them: no claim is kept.
  if (static_cast<int32_t>(isr.size()) >= min_insync_replicas(topic)) return elr;
  for (BrokerId replica : replicas) {  // replica order, so every node agrees
    if (std::find(isr.begin(), isr.end(), replica) != isr.end()) continue;
    // A broker that restarted without a clean shutdown may have lost its unflushed tail.
    if (replica == unclean_shutdown) continue;
    if (partition.in_isr(replica) || partition.in_elr(replica)) elr.push_back(replica);
  }
  return elr;
}

std::optional<PartitionChangeRecord> Controller::settle(TopicId topic_id, PartitionId partition_id,
                                                        std::vector<BrokerId> isr, BrokerId removed,
                                                        BrokerId unclean_shutdown,
                                                        const Assignment* target) const {
  const TopicImage* topic = image().topic(topic_id);
  const PartitionState* partition = image().partition(topic_id, partition_id);
  VERIFY(topic != nullptr && partition != nullptr);
  const bool elr_enabled = image().eligible_leader_replicas_enabled();
  const auto acceptable = [&](BrokerId broker) {
    if (broker == removed) return false;
    const BrokerRegistration* registration = image().broker(broker);
    return registration != nullptr && registration->is_active();
  };
  const auto has = [](const std::vector<BrokerId>& brokers, BrokerId broker) {
    return std::find(brokers.begin(), brokers.end(), broker) != brokers.end();
  };
  const auto as_vector = [](const ReplicaList& list) {
    return std::vector<BrokerId>(list.begin(), list.end());
  };
  Assignment assignment =
      target != nullptr ? *target
                        : Assignment{as_vector(partition->replicas), as_vector(partition->adding),
                                     as_vector(partition->removing)};
  // A reassignment completes once the ISR, without the replicas leaving, holds every
  // target replica (Kafka's rule): those leave the replicas and the ISR.
  if (!assignment.adding.empty() || !assignment.removing.empty()) {
    std::vector<BrokerId> kept_isr;
    std::vector<BrokerId> kept_replicas;
    for (BrokerId broker : isr) {
      if (!has(assignment.removing, broker)) kept_isr.push_back(broker);
    }
    for (BrokerId broker : assignment.replicas) {
      if (!has(assignment.removing, broker)) kept_replicas.push_back(broker);
    }
    const bool complete = !kept_isr.empty() && !kept_replicas.empty() &&
                          std::all_of(kept_replicas.begin(), kept_replicas.end(),
                                      [&](BrokerId broker) { return has(kept_isr, broker); });
    if (complete) {
      assignment = Assignment{std::move(kept_replicas), {}, {}};
      isr = std::move(kept_isr);
    }
  }
  const std::vector<BrokerId>& replicas = assignment.replicas;

  std::vector<BrokerId> elr =
      eligible_leader_replicas(*topic, *partition, replicas, isr, unclean_shutdown);
  // A leader from the ISR; with the ISR empty, from the ELR (KIP-966), in replica order.
  const auto valid = [&](BrokerId broker) {
    return (has(isr, broker) || (isr.empty() && has(elr, broker))) && acceptable(broker);
  };
  BrokerId leader = kNoLeader;
  if (partition->has_leader() && valid(partition->leader)) {
    leader = partition->leader;
  } else {
    for (BrokerId replica : replicas) {
      if (valid(replica)) {
        leader = replica;
        break;
      }
    }
  }
  // Nobody else can: the last leader, back (what the last ISR member did before KIP-966).
  const bool last_known_leader = leader == kNoLeader && elr_enabled && isr.empty() && elr.empty() &&
                                 partition->last_known_elr.size() == 1 &&
                                 has(replicas, partition->last_known_elr.front()) &&
                                 acceptable(partition->last_known_elr.front());
  if (last_known_leader) leader = partition->last_known_elr.front();
  if (leader != kNoLeader && isr.empty()) {
    isr = {leader};
    elr.erase(std::remove(elr.begin(), elr.end(), leader), elr.end());
    if (static_cast<int32_t>(isr.size()) >= min_insync_replicas(*topic)) elr.clear();
  }
  std::vector<BrokerId> last_known = as_vector(partition->last_known_elr);
  if (elr_enabled && isr.empty() && partition->has_leader()) {
    last_known = {partition->leader};  // the first time it goes leaderless
  } else if (leader != kNoLeader || !elr_enabled) {
    last_known.clear();
  }
  std::erase_if(last_known, [&](BrokerId broker) { return !has(replicas, broker); });

  PartitionChangeRecord change;
  change.topic_id = topic_id;
  change.partition_id = partition_id;
  const auto differs = [](const std::vector<BrokerId>& list, const ReplicaList& current) {
    return !std::equal(list.begin(), list.end(), current.begin(), current.end());
  };
  bool changed = false;
  if (differs(isr, partition->isr)) {
    change.isr = isr;
    changed = true;
  }
  if (leader != partition->leader) {
    change.leader = leader;
    changed = true;
  }
  if (differs(elr, partition->elr)) {
    change.eligible_leader_replicas = std::move(elr);
    changed = true;
  }
  if (differs(last_known, partition->last_known_elr)) {
    change.last_known_elr = std::move(last_known);
    changed = true;
  }
  if (differs(replicas, partition->replicas)) {
    // A replica that leaves ends its fetching: Kafka bumps the leader epoch so none of
    // its requests of the old epoch are taken.
    const bool lost_one = std::any_of(partition->replicas.begin(), partition->replicas.end(),
                                      [&](BrokerId broker) { return !has(replicas, broker); });
    if (lost_one && change.leader == kLeaderUnchanged && leader != kNoLeader)
      change.leader = leader;
    change.replicas = replicas;
    changed = true;
  }
  if (differs(assignment.adding, partition->adding)) {
    change.adding_replicas = assignment.adding;
    changed = true;
  }
  if (differs(assignment.removing, partition->removing)) {
    change.removing_replicas = assignment.removing;
    changed = true;
  }
  if (!changed) return std::nullopt;
  VERIFY(change.leader == kLeaderUnchanged || change.leader == kNoLeader ||
         has(replicas, change.leader));
  return change;
}

std::optional<PartitionChangeRecord> Controller::clean_election(TopicId topic_id,
                                                                PartitionId partition_id,
                                                                BrokerId removed) const {
  const PartitionState* partition = image().partition(topic_id, partition_id);
  VERIFY(partition != nullptr);
  std::vector<BrokerId> isr(partition->isr.begin(), partition->isr.end());
  // Without eligible leader replicas the ISR never empties: its last member keeps the
  // claim to the latest data. With them, that claim moves to the ELR.
  if (removed != kNoLeader && (isr.size() > 1 || image().eligible_leader_replicas_enabled())) {
    isr.erase(std::remove(isr.begin(), isr.end(), removed), isr.end());
  }
  return settle(topic_id, partition_id, std::move(isr), removed, kNoLeader);
}

std::optional<PartitionChangeRecord> Controller::unclean_election(TopicId topic_id,
                                                                  PartitionId partition_id) const {
  const TopicImage* topic = image().topic(topic_id);
  VERIFY(topic != nullptr);
  if (!unclean_allowed(*topic)) return std::nullopt;
  return forced_unclean_election(topic_id, partition_id);
}

std::optional<PartitionChangeRecord> Controller::forced_unclean_election(
    TopicId topic_id, PartitionId partition_id) const {
  const PartitionState* partition = image().partition(topic_id, partition_id);
  VERIFY(partition != nullptr);
  if (partition->has_leader()) return std::nullopt;
  const auto active = [&](BrokerId replica) {
    const BrokerRegistration* registration = image().broker(replica);
    return registration != nullptr && registration->is_active();
  };
  // A clean choice exists (an ISR member; with the ISR empty, an eligible leader replica
  // or the last known leader): not ours to make.
  if (std::any_of(partition->isr.begin(), partition->isr.end(), active)) return std::nullopt;
  if (partition->isr.empty() &&
      (std::any_of(partition->elr.begin(), partition->elr.end(), active) ||
       (partition->last_known_elr.size() == 1 && active(partition->last_known_elr.front())))) {
    return std::nullopt;
  }
  for (BrokerId replica : partition->replicas) {
    if (!active(replica)) continue;
    PartitionChangeRecord change;
    change.topic_id = topic_id;
    change.partition_id = partition_id;
    change.leader = replica;
    change.isr = std::vector<BrokerId>{replica};
    change.leader_recovery_state = 1;  // RECOVERING
    // The new leader's log is the truth now: no other replica keeps a claim.
    if (!partition->elr.empty()) change.eligible_leader_replicas = std::vector<BrokerId>{};
    if (!partition->last_known_elr.empty()) change.last_known_elr = std::vector<BrokerId>{};
    return change;
  }
  return std::nullopt;
}

void Controller::remove_broker_from_partitions(BrokerId broker, std::vector<Record>& out) {
  // Decide every change against one image, then apply: the changes touch distinct
  // partitions, so they do not interact.
  std::vector<PartitionChangeRecord> changes;
  for (const auto& [topic_id, topic] : image().topics()) {
    for (size_t index = 0; index < topic->partitions.size(); index++) {
      const PartitionState& partition = topic->partitions[index];
      if (partition.leader != broker && !partition.in_isr(broker)) continue;
      const PartitionId partition_id(static_cast<int32_t>(index));
      auto change = clean_election(topic_id, partition_id, broker);
      if (change) changes.push_back(std::move(*change));
    }
  }
  for (auto& change : changes) emit(std::move(change), out);
}

void Controller::drop_from_eligible(BrokerId broker, std::vector<Record>& out) {
  std::vector<PartitionChangeRecord> changes;
  for (const auto& [topic_id, topic] : image().topics()) {
    for (size_t index = 0; index < topic->partitions.size(); index++) {
      const PartitionState& partition = topic->partitions[index];
      if (!partition.in_elr(broker)) continue;
      const PartitionId partition_id(static_cast<int32_t>(index));
      // Nor may it lead in the same change: its registration may still read active.
      auto change =
          settle(topic_id, partition_id,
                 std::vector<BrokerId>(partition.isr.begin(), partition.isr.end()), broker, broker);
      if (change) changes.push_back(std::move(*change));
    }
  }
  for (auto& change : changes) emit(std::move(change), out);
}

void Controller::clear_eligible(const TopicImage& topic, std::vector<Record>& out) {
  std::vector<PartitionChangeRecord> changes;
  for (size_t index = 0; index < topic.partitions.size(); index++) {
    if (topic.partitions[index].elr.empty()) continue;
    PartitionChangeRecord change;
    change.topic_id = topic.id;
    change.partition_id = PartitionId(static_cast<int32_t>(index));
    change.eligible_leader_replicas = std::vector<BrokerId>{};
    changes.push_back(std::move(change));
  }
  for (auto& change : changes) emit(std::move(change), out);
}

void Controller::after_topic_config_change(const TopicImage& topic, const ConfigMap& before,
                                           std::vector<Record>& out) {
  auto old_config = config::TopicConfig::make(before);
  VERIFY(old_config.ok());
  // Kafka's rule: the eligible leader replicas were chosen under the old minimum (a lower
  // one lets the high watermark move without them); a change forgets them.
  if (old_config->min_insync_replicas(settings_.broker_config) != min_insync_replicas(topic)) {
    clear_eligible(topic, out);
  }
}

void Controller::elect_leaderless(bool unclean_only, std::vector<Record>& out) {
  std::vector<PartitionChangeRecord> changes;
  for (const auto& [topic_id, topic] : image().topics()) {
    const bool unclean = unclean_allowed(*topic);
    if (unclean_only && !unclean) continue;
    for (size_t index = 0; index < topic->partitions.size(); index++) {
      if (topic->partitions[index].has_leader()) continue;
      const PartitionId partition_id(static_cast<int32_t>(index));
      auto change = clean_election(topic_id, partition_id, kNoLeader);
      if (!change && unclean) change = unclean_election(topic_id, partition_id);
      if (change) changes.push_back(std::move(*change));
    }
  }
  for (auto& change : changes) emit(std::move(change), out);
}

void Controller::fence(BrokerId broker, std::vector<Record>& out) {
  const BrokerRegistration* registration = image().broker(broker);
  VERIFY(registration != nullptr);
  const BrokerEpoch epoch = registration->epoch;
  // Kafka's order: leaderships and ISR first, then the fence itself.
  remove_broker_from_partitions(broker, out);
  emit(FenceBrokerRecord{broker, epoch}, out);
  VERIFY(image().broker(broker)->fenced);
  VERIFY(!leads_any(broker), "a fenced broker still leads a partition");
}

bool Controller::leads_any(BrokerId broker) const {
  for (const auto& [topic_id, topic] : image().topics()) {
    for (const auto& partition : topic->partitions) {
      if (partition.leader == broker) return true;
    }
  }
  return false;
}

TopicId Controller::new_topic_id() {
  for (;;) {
    Uuid uuid;
    for (int half = 0; half < 2; half++) {
      const uint64_t bits = random_.next();
      for (int i = 0; i < 8; i++)
        uuid.bytes[half * 8 + i] = static_cast<uint8_t>(bits >> (56 - 8 * i));
    }
    // Kafka's Uuid.randomUuid avoids the zero id, the metadata topic's id (0, 1), and
    // ids whose base64 starts with '-' (they look like command-line options).
    Uuid metadata_topic_id;
    metadata_topic_id.bytes[15] = 1;
    const bool dash_first = (uuid.bytes[0] >> 2) == 62;
    const TopicId id{uuid};
    if (id.is_zero() || uuid == metadata_topic_id || dash_first) continue;
    if (image().topic(id) != nullptr) continue;
    return id;
  }
}

int64_t Controller::last_heartbeat_ms(BrokerId broker) const {
  auto it = sessions_.find(broker);
  return it == sessions_.end() ? term_start_ms_ : it->second.last_heartbeat_ms;
}

// ---- CreateTopics ------------------------------------------------------------------

Decision<protocol::CreateTopicsResponse> Controller::create_topics(
    const protocol::CreateTopicsRequest& request) {
  Decision<protocol::CreateTopicsResponse> decision;
  for (const auto& topic : request.topics) {
    protocol::CreateTopicsResponse::CreatableTopicResult result;
    result.name = topic.name;
    result.error_message = std::nullopt;
    const auto fail = [&](const Failure& failure) {
      result.error_code = error_value(failure.code);
      result.error_message = failure.message;
      result.num_partitions = -1;
      result.replication_factor = -1;
      result.configs = std::nullopt;
      decision.response.topics.push_back(result);
    };
    if (has_duplicate_names(request.topics, topic.name)) {
      fail({ErrorCode::invalid_request, "Duplicate topic name."});
      continue;
    }
    if (auto failure = check_topic_name(topic.name)) {
      fail(*failure);
      continue;
    }
    if (image().topic(topic.name) != nullptr) {
      fail(
          {ErrorCode::topic_already_exists, fmt::format("Topic '{}' already exists.", topic.name)});
      continue;
    }
    if (topic.name.find_first_of("._") != std::string::npos) {
      const std::string wanted = metric_name(topic.name);
      std::optional<std::string> collision;
      for (const auto& [name, id] : image().topic_names()) {
        if (metric_name(name) == wanted) collision = name;
      }
      if (collision) {
        fail({ErrorCode::invalid_topic_exception,
              fmt::format("Topic '{}' collides with existing topic: {}", topic.name, *collision)});
        continue;
      }
    }

    // Replica lists: manual, or placed.
    std::vector<std::vector<BrokerId>> assignment;
    std::vector<std::vector<BrokerId>> isrs;
    if (!topic.assignments.empty()) {
      if (topic.num_partitions != -1) {
        fail({ErrorCode::invalid_request,
              "A manual partition assignment was specified, but "
              "numPartitions was not set to -1."});
        continue;
      }
      if (topic.replication_factor != -1) {
        fail({ErrorCode::invalid_request,
              "A manual partition assignment was specified, but "
              "replicationFactor was not set to -1."});
        continue;
      }
      std::optional<Failure> failure;
      for (size_t index = 0; index < topic.assignments.size() && !failure; index++) {
        const auto& entry = topic.assignments[index];
        if (entry.partition_index != static_cast<int32_t>(index)) {
          failure = Failure{ErrorCode::invalid_replica_assignment,
                            "Partitions should be in consecutive order starting from 0."};
          break;
        }
        if (entry.broker_ids.empty()) {
          failure = Failure{ErrorCode::invalid_replica_assignment,
                            "The manual partition assignment includes an empty replica list."};
          break;
        }
        if (index > 0 && entry.broker_ids.size() != topic.assignments[0].broker_ids.size()) {
          failure = Failure{
              ErrorCode::invalid_replica_assignment,
              fmt::format("The manual partition assignment includes a partition with {} "
                          "replica(s), but this is not consistent with previous partitions, "
                          "which have {} replica(s).",
                          entry.broker_ids.size(), topic.assignments[0].broker_ids.size())};
          break;
        }
        std::vector<BrokerId> replicas;
        std::vector<BrokerId> isr;
        for (int32_t raw : entry.broker_ids) {
          const BrokerId broker(raw);
          if (std::find(replicas.begin(), replicas.end(), broker) != replicas.end()) {
            failure = Failure{ErrorCode::invalid_replica_assignment,
                              fmt::format("The manual partition assignment includes the broker "
                                          "{} more than once.",
                                          raw)};
            break;
          }
          const BrokerRegistration* registration = image().broker(broker);
          if (registration == nullptr) {
            failure = Failure{ErrorCode::invalid_replica_assignment,
                              fmt::format("The manual partition assignment includes broker {}, "
                                          "but no such broker is registered.",
                                          raw)};
            break;
          }
          replicas.push_back(broker);
          if (registration->is_active()) isr.push_back(broker);
        }
        if (failure) break;
        if (isr.empty()) {
          failure = Failure{ErrorCode::invalid_replica_assignment,
                            fmt::format("All brokers specified in the manual partition "
                                        "assignment for partition {} are fenced or in "
                                        "controlled shutdown.",
                                        index)};
          break;
        }
        assignment.push_back(std::move(replicas));
        isrs.push_back(std::move(isr));
      }
      if (failure) {
        fail(*failure);
        continue;
      }
    } else {
      const int32_t partitions =
          topic.num_partitions == -1 ? settings_.num_partitions : topic.num_partitions;
      const int16_t replication_factor = topic.replication_factor == -1
                                             ? settings_.default_replication_factor
                                             : topic.replication_factor;
      if (partitions <= 0) {
        fail({ErrorCode::invalid_partitions,
              "Number of partitions was set to an invalid non-positive value."});
        continue;
      }
      if (partitions > kPartitionsPerTopicMax) {
        fail({ErrorCode::invalid_partitions,
              fmt::format("Number of partitions {} is above the maximum of {}.", partitions,
                          kPartitionsPerTopicMax)});
        continue;
      }
      if (replication_factor <= 0) {
        fail({ErrorCode::invalid_replication_factor,
              "Replication factor must be larger than 0, or -1 to use the default value."});
        continue;
      }
      std::vector<PlacementBroker> usable;
      for (const auto& [id, registration] : image().brokers()) {
        if (registration.is_active()) usable.push_back({id, registration.rack});
      }
      auto placed = place_replicas(std::move(usable), partitions, replication_factor, random_);
      if (!placed) {
        fail({ErrorCode::invalid_replication_factor, placed.error().message});
        continue;
      }
      assignment = std::move(*placed);
      isrs = assignment;
    }

    std::vector<config::ConfigEntry> entries;
    for (const auto& config : topic.configs) entries.push_back({config.name, config.value});
    auto topic_config = config::TopicConfig::from_entries(entries);
    if (!topic_config) {
      fail({ErrorCode::invalid_config, topic_config.error().message});
      continue;
    }

    const TopicId topic_id = new_topic_id();
    std::vector<Record> records;
    records.push_back(TopicRecord{topic.name, topic_id});
    for (const auto& [key, value] : topic_config->overrides()) {
      records.push_back(ConfigRecord{ConfigResourceType::topic, topic.name, key, value});
    }
    for (size_t index = 0; index < assignment.size(); index++) {
      records.push_back(make_partition_record(topic_id, static_cast<int32_t>(index),
                                              assignment[index], isrs[index]));
    }
    if (!request.validate_only) {
      for (auto& record : records) emit(std::move(record), decision.records);
      VERIFY(image().topic(topic.name) != nullptr);
      VERIFY(image().topic(topic.name)->partitions.size() == assignment.size());
    }
    result.topic_id = request.validate_only ? Uuid{} : topic_id.uuid;
    result.num_partitions = static_cast<int32_t>(assignment.size());
    result.replication_factor = static_cast<int16_t>(assignment.front().size());
    std::vector<protocol::CreateTopicsResponse::CreatableTopicConfigs> configs;
    for (const auto& described : topic_config->describe(settings_.broker_config)) {
      protocol::CreateTopicsResponse::CreatableTopicConfigs entry;
      entry.name = described.name;
      entry.value = described.value;
      entry.read_only = described.read_only;
      entry.config_source = static_cast<int8_t>(described.source);
      entry.is_sensitive = described.sensitive;
      configs.push_back(std::move(entry));
    }
    result.configs = std::move(configs);
    decision.response.topics.push_back(std::move(result));
  }
  VERIFY(decision.response.topics.size() == request.topics.size());
  return decision;
}

// ---- adopting an older weir's topics ------------------------------------------------

std::vector<Record> Controller::adopt_legacy_topics(const std::vector<LegacyTopic>& topics,
                                                    BrokerId broker, ProducerId next_producer_id) {
  std::vector<Record> out;
  for (const LegacyTopic& topic : topics) {
    VERIFY(topic.partitions > 0, "legacy topic {} has no partitions", topic.name);
    VERIFY(!topic.id.is_zero());
    if (image().topic(topic.name) != nullptr || image().topic(topic.id) != nullptr) continue;
    emit(TopicRecord{topic.name, topic.id}, out);
    for (const auto& [key, value] : topic.configs) {
      emit(ConfigRecord{ConfigResourceType::topic, topic.name, key, value}, out);
    }
    for (int32_t index = 0; index < topic.partitions; index++) {
      emit(make_partition_record(topic.id, index, {broker}, {broker}), out);
    }
    VERIFY(image().topic(topic.name) != nullptr);
    VERIFY(image().topic(topic.name)->partitions.size() == static_cast<size_t>(topic.partitions));
  }
  if (next_producer_id > image().next_producer_id()) {
    ProducerIdsRecord record;
    record.broker_id = broker;
    record.next_producer_id = next_producer_id;
    emit(record, out);
  }
  return out;
}

// ---- DeleteTopics ------------------------------------------------------------------

Decision<protocol::DeleteTopicsResponse> Controller::delete_topics(
    const protocol::DeleteTopicsRequest& request, int16_t version) {
  Decision<protocol::DeleteTopicsResponse> decision;
  // Normalise both request shapes to (name or null, id or zero).
  struct Target {
    std::optional<std::string> name;
    TopicId id;
  };
  std::vector<Target> targets;
  if (version >= 6) {
    for (const auto& topic : request.topics)
      targets.push_back({topic.name, TopicId{topic.topic_id}});
  } else {
    for (const auto& name : request.topic_names) targets.push_back({name, TopicId{}});
  }
  for (const auto& target : targets) {
    protocol::DeleteTopicsResponse::DeletableTopicResult result;
    result.name = target.name;
    result.topic_id = target.id.uuid;
    const auto fail = [&](ErrorCode code, std::string message) {
      result.error_code = error_value(code);
      result.error_message = std::move(message);
      decision.response.responses.push_back(result);
    };
    const bool by_id = !target.id.is_zero();
    if (by_id && target.name) {
      fail(ErrorCode::invalid_request, "You may not specify both topic name and topic id.");
      continue;
    }
    if (!by_id && !target.name) {
      fail(ErrorCode::invalid_request, "Neither topic name nor id were specified.");
      continue;
    }
    const auto same = [&](const Target& other) {
      return by_id ? other.id == target.id : other.name == target.name;
    };
    if (std::count_if(targets.begin(), targets.end(), same) > 1) {
      fail(ErrorCode::invalid_request, by_id ? "Duplicate topic id." : "Duplicate topic name.");
      continue;
    }
    if (!settings_.delete_topic_enable) {
      fail(ErrorCode::topic_deletion_disabled, "Topic deletion is disabled.");
      continue;
    }
    const TopicImage* topic = by_id ? image().topic(target.id) : image().topic(*target.name);
    if (topic == nullptr) {
      if (by_id) {
        fail(ErrorCode::unknown_topic_id, "This server does not host this topic ID.");
      } else {
        fail(ErrorCode::unknown_topic_or_partition,
             "This server does not host this topic-partition.");
      }
      continue;
    }
    const TopicId id = topic->id;
    result.name = topic->name;
    result.topic_id = id.uuid;
    result.error_message = std::nullopt;
    emit(RemoveTopicRecord{id}, decision.records);
    VERIFY(image().topic(id) == nullptr);
    decision.response.responses.push_back(std::move(result));
  }
  VERIFY(decision.response.responses.size() == targets.size());
  return decision;
}

// ---- CreatePartitions --------------------------------------------------------------

Decision<protocol::CreatePartitionsResponse> Controller::create_partitions(
    const protocol::CreatePartitionsRequest& request) {
  Decision<protocol::CreatePartitionsResponse> decision;
  for (const auto& entry : request.topics) {
    protocol::CreatePartitionsResponse::CreatePartitionsTopicResult result;
    result.name = entry.name;
    const auto fail = [&](ErrorCode code, std::string message) {
      result.error_code = error_value(code);
      result.error_message = std::move(message);
      decision.response.results.push_back(result);
    };
    if (has_duplicate_names(request.topics, entry.name)) {
      fail(ErrorCode::invalid_request, "Duplicate topic name.");
      continue;
    }
    const TopicImage* topic = image().topic(entry.name);
    if (topic == nullptr) {
      fail(ErrorCode::unknown_topic_or_partition,
           "This server does not host this topic-partition.");
      continue;
    }
    const auto current = static_cast<int32_t>(topic->partitions.size());
    if (entry.count < current) {
      fail(ErrorCode::invalid_partitions,
           fmt::format("The topic {} currently has {} partition(s); {} would not be an "
                       "increase.",
                       entry.name, current, entry.count));
      continue;
    }
    if (entry.count == current) {
      fail(ErrorCode::invalid_partitions,
           fmt::format("Topic already has {} partition(s).", current));
      continue;
    }
    if (entry.count > kPartitionsPerTopicMax) {
      fail(ErrorCode::invalid_partitions,
           fmt::format("Number of partitions {} is above the maximum of {}.", entry.count,
                       kPartitionsPerTopicMax));
      continue;
    }
    const int32_t additional = entry.count - current;
    VERIFY(!topic->partitions.empty(), "a topic has at least one partition");
    // Partition 0's replicas, without those a reassignment is removing.
    const auto replication_factor = static_cast<int16_t>(topic->partitions[0].replicas.size() -
                                                         topic->partitions[0].removing.size());
    std::vector<std::vector<BrokerId>> assignment;
    std::vector<std::vector<BrokerId>> isrs;
    if (entry.assignments) {
      if (static_cast<int32_t>(entry.assignments->size()) != additional) {
        fail(ErrorCode::invalid_replica_assignment,
             fmt::format("Attempted to add {} additional partition(s), but only {} "
                         "assignment(s) were specified.",
                         additional, entry.assignments->size()));
        continue;
      }
      std::optional<Failure> failure;
      for (const auto& manual : *entry.assignments) {
        if (static_cast<int16_t>(manual.broker_ids.size()) != replication_factor) {
          failure = Failure{
              ErrorCode::invalid_replica_assignment,
              fmt::format("The manual partition assignment includes a partition with {} "
                          "replica(s), but this is not consistent with previous partitions, "
                          "which have {} replica(s).",
                          manual.broker_ids.size(), replication_factor)};
          break;
        }
        std::vector<BrokerId> replicas;
        std::vector<BrokerId> isr;
        for (int32_t raw : manual.broker_ids) {
          const BrokerId broker(raw);
          const BrokerRegistration* registration = image().broker(broker);
          if (std::find(replicas.begin(), replicas.end(), broker) != replicas.end()) {
            failure = Failure{ErrorCode::invalid_replica_assignment,
                              fmt::format("The manual partition assignment includes the broker "
                                          "{} more than once.",
                                          raw)};
            break;
          }
          if (registration == nullptr) {
            failure = Failure{ErrorCode::invalid_replica_assignment,
                              fmt::format("The manual partition assignment includes broker {}, "
                                          "but no such broker is registered.",
                                          raw)};
            break;
          }
          replicas.push_back(broker);
          if (registration->is_active()) isr.push_back(broker);
        }
        if (failure) break;
        if (isr.empty()) {
          failure = Failure{ErrorCode::invalid_replica_assignment,
                            "All brokers specified in the manual partition assignment are "
                            "fenced or in controlled shutdown."};
          break;
        }
        assignment.push_back(std::move(replicas));
        isrs.push_back(std::move(isr));
      }
      if (failure) {
        fail(failure->code, failure->message);
        continue;
      }
    } else {
      std::vector<PlacementBroker> usable;
      for (const auto& [id, registration] : image().brokers()) {
        if (registration.is_active()) usable.push_back({id, registration.rack});
      }
      auto placed = place_replicas(std::move(usable), additional, replication_factor, random_);
      if (!placed) {
        fail(ErrorCode::invalid_replication_factor, placed.error().message);
        continue;
      }
      assignment = std::move(*placed);
      isrs = assignment;
    }
    result.error_message = std::nullopt;
    if (!request.validate_only) {
      const TopicId topic_id = topic->id;
      for (size_t index = 0; index < assignment.size(); index++) {
        emit(make_partition_record(topic_id, current + static_cast<int32_t>(index),
                                   assignment[index], isrs[index]),
             decision.records);
      }
      VERIFY(image().topic(topic_id)->partitions.size() == static_cast<size_t>(entry.count));
    }
    decision.response.results.push_back(std::move(result));
  }
  VERIFY(decision.response.results.size() == request.topics.size());
  return decision;
}

// ---- configs -----------------------------------------------------------------------

Decision<protocol::IncrementalAlterConfigsResponse> Controller::incremental_alter_configs(
    const protocol::IncrementalAlterConfigsRequest& request) {
  Decision<protocol::IncrementalAlterConfigsResponse> decision;
  for (const auto& resource : request.resources) {
    protocol::IncrementalAlterConfigsResponse::AlterConfigsResourceResponse result;
    result.resource_type = resource.resource_type;
    result.resource_name = resource.resource_name;
    result.error_message = std::nullopt;
    const auto fail = [&](ErrorCode code, std::string message) {
      result.error_code = error_value(code);
      result.error_message = std::move(message);
      decision.response.responses.push_back(result);
    };
    const auto same = [&](const auto& other) {
      return other.resource_type == resource.resource_type &&
             other.resource_name == resource.resource_name;
    };
    if (std::count_if(request.resources.begin(), request.resources.end(), same) > 1) {
      fail(ErrorCode::invalid_request, "Duplicate resource.");
      continue;
    }
    if (resource.resource_type != static_cast<int8_t>(ConfigResourceType::topic)) {
      fail(ErrorCode::invalid_request,
           fmt::format("Unexpected resource type {}: the controller alters topic configs "
                       "only (weir has no dynamic broker configs).",
                       resource.resource_type));
      continue;
    }
    const TopicImage* topic = image().topic(resource.resource_name);
    if (topic == nullptr) {
      fail(ErrorCode::unknown_topic_or_partition,
           fmt::format("The topic '{}' does not exist.", resource.resource_name));
      continue;
    }
    std::vector<config::AlterOperation> operations;
    std::optional<Failure> failure;
    for (const auto& config : resource.configs) {
      if (has_duplicate_names(resource.configs, config.name)) {
        failure = Failure{ErrorCode::invalid_request, "Error due to duplicate config keys"};
        break;
      }
      if (config.config_operation < 0 || config.config_operation > 3) {
        failure = Failure{ErrorCode::invalid_request,
                          fmt::format("Unknown operation type {}", config.config_operation)};
        break;
      }
      operations.push_back(
          {config.name, static_cast<config::AlterOp>(config.config_operation), config.value});
    }
    if (failure) {
      fail(failure->code, failure->message);
      continue;
    }
    const ConfigMap before = image().topic_config(topic->name);
    auto current = config::TopicConfig::make(before);
    if (!current) {
      fail(ErrorCode::invalid_config, current.error().message);
      continue;
    }
    auto altered = current->incremental_alter(operations, settings_.broker_config);
    if (!altered) {
      fail(ErrorCode::invalid_config, altered.error().message);
      continue;
    }
    if (!request.validate_only) {
      for (auto& change : config_changes(topic->name, before, altered->overrides())) {
        emit(std::move(change), decision.records);
      }
      after_topic_config_change(*topic, before, decision.records);
    }
    decision.response.responses.push_back(std::move(result));
  }
  VERIFY(decision.response.responses.size() == request.resources.size());
  return decision;
}

Decision<protocol::AlterConfigsResponse> Controller::alter_configs(
    const protocol::AlterConfigsRequest& request) {
  Decision<protocol::AlterConfigsResponse> decision;
  for (const auto& resource : request.resources) {
    protocol::AlterConfigsResponse::AlterConfigsResourceResponse result;
    result.resource_type = resource.resource_type;
    result.resource_name = resource.resource_name;
    result.error_message = std::nullopt;
    const auto fail = [&](ErrorCode code, std::string message) {
      result.error_code = error_value(code);
      result.error_message = std::move(message);
      decision.response.responses.push_back(result);
    };
    const auto same = [&](const auto& other) {
      return other.resource_type == resource.resource_type &&
             other.resource_name == resource.resource_name;
    };
    if (std::count_if(request.resources.begin(), request.resources.end(), same) > 1) {
      fail(ErrorCode::invalid_request, "Duplicate resource.");
      continue;
    }
    if (resource.resource_type != static_cast<int8_t>(ConfigResourceType::topic)) {
      fail(ErrorCode::invalid_request,
           fmt::format("Unexpected resource type {}: the controller alters topic configs "
                       "only (weir has no dynamic broker configs).",
                       resource.resource_type));
      continue;
    }
    const TopicImage* topic = image().topic(resource.resource_name);
    if (topic == nullptr) {
      fail(ErrorCode::unknown_topic_or_partition,
           fmt::format("The topic '{}' does not exist.", resource.resource_name));
      continue;
    }
    std::vector<config::ConfigEntry> entries;
    for (const auto& config : resource.configs) entries.push_back({config.name, config.value});
    auto replacement = config::TopicConfig::from_entries(entries);
    if (!replacement) {
      fail(ErrorCode::invalid_config, replacement.error().message);
      continue;
    }
    if (!request.validate_only) {
      const ConfigMap before = image().topic_config(topic->name);
      for (auto& change : config_changes(topic->name, before, replacement->overrides())) {
        emit(std::move(change), decision.records);
      }
      after_topic_config_change(*topic, before, decision.records);
    }
    decision.response.responses.push_back(std::move(result));
  }
  VERIFY(decision.response.responses.size() == request.resources.size());
  return decision;
}

// ---- brokers -----------------------------------------------------------------------

Decision<protocol::BrokerRegistrationResponse> Controller::register_broker(
    const protocol::BrokerRegistrationRequest& request, record::Offset next_offset,
    int64_t now_ms) {
  VERIFY(next_offset.value() >= 0);
  Decision<protocol::BrokerRegistrationResponse> decision;
  const auto fail = [&](ErrorCode code) {
    decision.response.error_code = error_value(code);
    decision.response.broker_epoch = -1;
    return decision;
  };
  const BrokerId broker(request.broker_id);
  if (broker.value() < 0) return fail(ErrorCode::invalid_request);
  if (!settings_.cluster_id.empty() && request.cluster_id != settings_.cluster_id) {
    return fail(ErrorCode::inconsistent_cluster_id);
  }
  const int16_t metadata_version = image().metadata_version();
  for (const auto& feature : request.features) {
    if (feature.name == kMetadataVersionFeature && metadata_version > 0 &&
        (metadata_version < feature.min_supported_version ||
         metadata_version > feature.max_supported_version)) {
      return fail(ErrorCode::unsupported_version);
    }
  }
  for (size_t i = 0; i < request.listeners.size(); i++) {
    for (size_t j = 0; j < i; j++) {
      if (request.listeners[i].name == request.listeners[j].name) {
        return fail(ErrorCode::invalid_request);
      }
    }
  }
  const BrokerRegistration* existing = image().broker(broker);
  // The broker of this controller's own process cannot have an older incarnation alive.
  const bool own_broker = settings_.colocated_broker && broker == BrokerId(settings_.node_id);
  if (existing != nullptr && existing->incarnation_id != request.incarnation_id && !own_broker &&
      now_ms - last_heartbeat_ms(broker) <= settings_.broker_session_timeout_ms) {
    // Another process holds this id and is heartbeating.
    return fail(ErrorCode::duplicate_broker_registration);
  }
  const bool reregistering = existing != nullptr;
  if (existing != nullptr) {
    // The old incarnation is gone: whatever it led or kept in sync must not wait for it.
    const BrokerEpoch previous = existing->epoch;
    remove_broker_from_partitions(broker, decision.records);
    // KIP-966: unless it stopped cleanly (its clean-shutdown mark names its last epoch),
    // its log may have lost an unflushed tail and it no longer vouches for the high
    // watermark.
    if (request.previous_broker_epoch != previous.value() &&
        !settings_.flaw_keep_elr_on_unclean_restart) {
      drop_from_eligible(broker, decision.records);
    }
  }
  RegisterBrokerRecord record;
  record.broker_id = broker;
  record.incarnation_id = request.incarnation_id;
  record.broker_epoch =
      BrokerEpoch(next_offset.value() + static_cast<int64_t>(decision.records.size()));
  for (const auto& listener : request.listeners) {
    record.endpoints.push_back(
        {listener.name, listener.host, listener.port, listener.security_protocol});
  }
  for (const auto& feature : request.features) {
    record.features.push_back(
        {feature.name, feature.min_supported_version, feature.max_supported_version});
  }
  record.rack = request.rack;
  record.fenced = true;
  record.in_controlled_shutdown = false;
  record.log_dirs = request.log_dirs;
  const BrokerEpoch epoch = record.broker_epoch;
  emit(std::move(record), decision.records);
  // (A first registration may lead already: a lone node's adopted legacy topics name it.)
  VERIFY(!reregistering || !leads_any(broker), "broker {} registers fenced but leads a partition",
         broker);
  sessions_[broker] = Session{now_ms, -1};
  decision.response.broker_epoch = epoch.value();
  VERIFY(image().broker(broker)->epoch == epoch);
  VERIFY(image().broker(broker)->fenced, "a registered broker starts fenced");
  return decision;
}

std::vector<Record> Controller::bootstrap() {
  std::vector<Record> records;
  if (image().metadata_version() == 0) {
    emit(FeatureLevelRecord{std::string(kMetadataVersionFeature), kMetadataVersionLevel}, records);
    if (settings_.eligible_leader_replicas) {
      emit(FeatureLevelRecord{std::string(kEligibleLeaderReplicasFeature),
                              kEligibleLeaderReplicasLevel},
           records);
    }
  }
  return records;
}

Decision<protocol::BrokerHeartbeatResponse> Controller::broker_heartbeat(
    const protocol::BrokerHeartbeatRequest& request, record::Offset next_offset, int64_t now_ms) {
  VERIFY(next_offset.value() >= 0);
  Decision<protocol::BrokerHeartbeatResponse> decision;
  auto& response = decision.response;
  const BrokerId broker(request.broker_id);
  const BrokerRegistration* registration = image().broker(broker);
  if (registration == nullptr || registration->epoch.value() != request.broker_epoch) {
    response.error_code = error_value(ErrorCode::stale_broker_epoch);
    response.is_fenced = true;
    return decision;
  }
  Session& session = sessions_[broker];
  session.last_heartbeat_ms = now_ms;
  // A broker has caught up once it has replayed its own registration.
  const bool caught_up = request.current_metadata_offset >= registration->epoch.value();
  const BrokerEpoch epoch = registration->epoch;

  if (registration->fenced) {
    if (request.want_shut_down || registration->in_controlled_shutdown) {
      response.should_shut_down = true;
    } else if (!request.want_fence && caught_up) {
      emit(UnfenceBrokerRecord{broker, epoch}, decision.records);
      elect_leaderless(/*unclean_only=*/false, decision.records);
    }
  } else if (request.want_shut_down || registration->in_controlled_shutdown) {
    if (!registration->in_controlled_shutdown) {
      BrokerRegistrationChangeRecord change;
      change.broker_id = broker;
      change.broker_epoch = epoch;
      change.in_controlled_shutdown = 1;
      emit(std::move(change), decision.records);
      remove_broker_from_partitions(broker, decision.records);
      session.controlled_shutdown_offset =
          next_offset.value() + static_cast<int64_t>(decision.records.size()) - 1;
    } else if (!leads_any(broker) &&
               request.current_metadata_offset >= session.controlled_shutdown_offset) {
      // It has seen its leaderships go: it may stop now (Kafka's SHUTDOWN_NOW).
      fence(broker, decision.records);
      response.should_shut_down = true;
    }
  } else if (request.want_fence) {
    fence(broker, decision.records);
  }
  const BrokerRegistration* after = image().broker(broker);
  VERIFY(after != nullptr && after->epoch == epoch);
  response.error_code = 0;
  response.is_caught_up = caught_up;
  response.is_fenced = after->fenced;
  return decision;
}

Decision<protocol::UnregisterBrokerResponse> Controller::unregister_broker(
    const protocol::UnregisterBrokerRequest& request) {
  Decision<protocol::UnregisterBrokerResponse> decision;
  const BrokerId broker(request.broker_id);
  const BrokerRegistration* registration = image().broker(broker);
  if (registration == nullptr) {
    decision.response.error_code = error_value(ErrorCode::broker_id_not_registered);
    decision.response.error_message =
        fmt::format("Broker ID {} is not currently registered", request.broker_id);
    return decision;
  }
  const BrokerEpoch epoch = registration->epoch;
  remove_broker_from_partitions(broker, decision.records);
  drop_from_eligible(broker, decision.records);  // gone for good
  emit(UnregisterBrokerRecord{broker, epoch}, decision.records);
  sessions_.erase(broker);
  decision.response.error_message = std::nullopt;
  VERIFY(image().broker(broker) == nullptr);
  return decision;
}

std::pair<ErrorCode, std::optional<PartitionChangeRecord>> Controller::preferred_election(
    TopicId topic_id, PartitionId partition_id) const {
  const PartitionState* partition = image().partition(topic_id, partition_id);
  VERIFY(partition != nullptr && !partition->replicas.empty());
  const BrokerId preferred = partition->replicas.front();
  if (partition->leader == preferred) return {ErrorCode::election_not_needed, std::nullopt};
  const BrokerRegistration* registration = image().broker(preferred);
  if (!partition->in_isr(preferred) || registration == nullptr || !registration->is_active()) {
    return {ErrorCode::preferred_leader_not_available, std::nullopt};
  }
  PartitionChangeRecord change;
  change.topic_id = topic_id;
  change.partition_id = partition_id;
  change.leader = preferred;
  return {ErrorCode::none, change};
}

Decision<protocol::AlterPartitionReassignmentsResponse> Controller::alter_partition_reassignments(
    const protocol::AlterPartitionReassignmentsRequest& request, int16_t version) {
  Decision<protocol::AlterPartitionReassignmentsResponse> decision;
  auto& response = decision.response;
  response.allow_replication_factor_change = request.allow_replication_factor_change;
  response.error_message = std::nullopt;
  for (const auto& asked_topic : request.topics) {
    auto& topic_result = response.responses.emplace_back();
    topic_result.name = asked_topic.name;
    for (const auto& asked : asked_topic.partitions) {
      auto& result = topic_result.partitions.emplace_back();
      result.partition_index = asked.partition_index;
      result.error_message = std::nullopt;
      const auto fail = [&](ErrorCode code, std::string message) {
        result.error_code = error_value(code);
        result.error_message = std::move(message);
      };
      const TopicImage* topic = image().topic(asked_topic.name);
      const PartitionId partition_id(asked.partition_index);
      const PartitionState* partition =
          topic == nullptr ? nullptr : image().partition(topic->id, partition_id);
      if (partition == nullptr) {
        fail(ErrorCode::unknown_topic_or_partition,
             "This server does not host this topic-partition.");
        continue;
      }
      const auto as_vector = [](const ReplicaList& list) {
        return std::vector<BrokerId>(list.begin(), list.end());
      };
      if (!asked.replicas) {
        // Cancel: back to the replicas it had, without the ones being added.
        if (!partition->reassigning()) {
          fail(ErrorCode::no_reassignment_in_progress,
               fmt::format("No ongoing reassignment for {}-{}.", asked_topic.name,
                           asked.partition_index));
          continue;
        }
        Assignment original;
        for (BrokerId broker : partition->replicas) {
          if (!partition->is_adding(broker)) original.replicas.push_back(broker);
        }
        std::vector<BrokerId> isr;
        for (BrokerId broker : partition->isr) {
          if (std::find(original.replicas.begin(), original.replicas.end(), broker) !=
              original.replicas.end()) {
            isr.push_back(broker);
          }
        }
        if (isr.empty()) {
          fail(ErrorCode::invalid_replica_assignment,
               fmt::format("Unable to revert partition assignment for {}-{} because it would "
                           "require an unclean leader election.",
                           asked_topic.name, asked.partition_index));
          continue;
        }
        auto change =
            settle(topic->id, partition_id, std::move(isr), kNoLeader, kNoLeader, &original);
        if (change) emit(std::move(*change), decision.records);
        continue;
      }
      const std::vector<int32_t>& wanted = *asked.replicas;
      if (wanted.empty()) {
        fail(ErrorCode::invalid_replica_assignment,
             "The manual partition assignment includes an empty replica list.");
        continue;
      }
      std::optional<std::string> invalid;
      for (size_t i = 0; i < wanted.size() && !invalid; i++) {
        if (std::count(wanted.begin(), wanted.end(), wanted[i]) > 1) {
          invalid = fmt::format(
              "The manual partition assignment includes the broker {} more than once.", wanted[i]);
        } else if (image().broker(BrokerId(wanted[i])) == nullptr) {
          invalid = fmt::format(
              "The manual partition assignment includes broker {}, but no such broker is "
              "registered.",
              wanted[i]);
        }
      }
      if (invalid) {
        fail(ErrorCode::invalid_replica_assignment, std::move(*invalid));
        continue;
      }
      // The replication factor: of the assignment the partition settles to.
      const size_t current_factor = partition->replicas.size() - partition->removing.size();
      if (version >= 1 && !request.allow_replication_factor_change &&
          wanted.size() != current_factor) {
        fail(ErrorCode::invalid_replication_factor,
             fmt::format("The replication factor is changed from {} to {} but "
                         "AllowReplicationFactorChange is false.",
                         current_factor, wanted.size()));
        continue;
      }
      // Kafka's PartitionReassignmentReplicas: the target first, then the replicas that
      // leave; adding and removing in ascending id.
      Assignment target;
      for (int32_t id : wanted) target.replicas.emplace_back(id);
      std::vector<BrokerId> current = as_vector(partition->replicas);
      for (BrokerId broker : current) {
        if (std::find(target.replicas.begin(), target.replicas.end(), broker) ==
            target.replicas.end()) {
          target.removing.push_back(broker);
        }
      }
      for (BrokerId broker : target.replicas) {
        if (std::find(current.begin(), current.end(), broker) == current.end()) {
          target.adding.push_back(broker);
        }
      }
      std::sort(target.removing.begin(), target.removing.end());
      std::sort(target.adding.begin(), target.adding.end());
      target.replicas.insert(target.replicas.end(), target.removing.begin(), target.removing.end());
      auto change =
          settle(topic->id, partition_id, as_vector(partition->isr), kNoLeader, kNoLeader, &target);
      if (change) emit(std::move(*change), decision.records);
    }
  }
  return decision;
}

Decision<protocol::ListPartitionReassignmentsResponse> Controller::list_partition_reassignments(
    const protocol::ListPartitionReassignmentsRequest& request) const {
  Decision<protocol::ListPartitionReassignmentsResponse> decision;
  decision.response.error_message = std::nullopt;
  const auto to_ints = [](const ReplicaList& list) {
    std::vector<int32_t> ids;
    for (BrokerId broker : list) ids.push_back(broker.value());
    return ids;
  };
  const auto list = [&](const TopicImage& topic, const std::vector<int32_t>* indexes) {
    protocol::ListPartitionReassignmentsResponse::OngoingTopicReassignment entry;
    entry.name = topic.name;
    for (size_t index = 0; index < topic.partitions.size(); index++) {
      const PartitionState& partition = topic.partitions[index];
      if (!partition.reassigning()) continue;
      if (indexes != nullptr && std::find(indexes->begin(), indexes->end(),
                                          static_cast<int32_t>(index)) == indexes->end()) {
        continue;
      }
      auto& ongoing = entry.partitions.emplace_back();
      ongoing.partition_index = static_cast<int32_t>(index);
      ongoing.replicas = to_ints(partition.replicas);
      ongoing.adding_replicas = to_ints(partition.adding);
      ongoing.removing_replicas = to_ints(partition.removing);
    }
    if (!entry.partitions.empty()) decision.response.topics.push_back(std::move(entry));
  };
  if (!request.topics) {
    for (const auto& [name, id] : image().topic_names()) list(*image().topic(id), nullptr);
    return decision;
  }
  for (const auto& asked : *request.topics) {
    if (const TopicImage* topic = image().topic(asked.name)) list(*topic, &asked.partition_indexes);
  }
  return decision;
}

Decision<protocol::ElectLeadersResponse> Controller::elect_leaders(
    const protocol::ElectLeadersRequest& request, int16_t version) {
  Decision<protocol::ElectLeadersResponse> decision;
  constexpr int8_t kPreferred = 0;
  constexpr int8_t kUnclean = 1;
  const int8_t type = version >= 1 ? request.election_type : kPreferred;
  if (type != kPreferred && type != kUnclean) {
    decision.response.error_code = error_value(ErrorCode::invalid_request);
    return decision;
  }
  // The change one partition needs, or why there is none.
  auto elect =
      [&](TopicId topic_id,
          PartitionId partition_id) -> std::pair<ErrorCode, std::optional<PartitionChangeRecord>> {
    const PartitionState* partition = image().partition(topic_id, partition_id);
    VERIFY(partition != nullptr);
    if (type == kPreferred) return preferred_election(topic_id, partition_id);
    if (partition->has_leader()) return {ErrorCode::election_not_needed, std::nullopt};
    auto change = clean_election(topic_id, partition_id, kNoLeader);
    if (!change || change->leader == kLeaderUnchanged || change->leader == kNoLeader) {
      change = forced_unclean_election(topic_id, partition_id);
    }
    if (!change) return {ErrorCode::eligible_leaders_not_available, std::nullopt};
    return {ErrorCode::none, change};
  };
  auto message = [](ErrorCode code) -> std::optional<std::string> {
    switch (code) {
      case ErrorCode::none: return std::nullopt;
      case ErrorCode::election_not_needed: return "Leader election not needed for topic partition.";
      case ErrorCode::preferred_leader_not_available:
        return "The preferred leader was not available.";
      case ErrorCode::eligible_leaders_not_available:
        return "No replica of the partition is available to lead it.";
      default: return "This server does not host this topic-partition.";
    }
  };
  auto result_for =
      [&](const std::string& topic_name) -> protocol::ElectLeadersResponse::ReplicaElectionResult& {
    auto& results = decision.response.replica_election_results;
    for (auto& result : results) {
      if (result.topic == topic_name) return result;
    }
    auto& result = results.emplace_back();
    result.topic = topic_name;
    return result;
  };
  auto answer = [&](const std::string& topic_name, int32_t partition, ErrorCode code) {
    auto& entry = result_for(topic_name).partition_result.emplace_back();
    entry.partition_id = partition;
    entry.error_code = error_value(code);
    entry.error_message = message(code);
  };
  if (!request.topic_partitions) {
    // Every partition; only those that needed an election are answered.
    std::vector<std::pair<const TopicImage*, int32_t>> wanted;
    for (const auto& [name, topic_id] : image().topic_names()) {
      const TopicImage* topic = image().topic(topic_id);
      for (size_t p = 0; p < topic->partitions.size(); p++) {
        wanted.emplace_back(topic, static_cast<int32_t>(p));
      }
    }
    for (const auto& [topic, p] : wanted) {
      auto [code, change] = elect(topic->id, PartitionId(p));
      if (code == ErrorCode::election_not_needed) continue;
      if (change) emit(Record(std::move(*change)), decision.records);
      answer(topic->name, p, code);
    }
    return decision;
  }
  for (const auto& entry : *request.topic_partitions) {
    const TopicImage* topic = image().topic(entry.topic);
    for (int32_t p : entry.partitions) {
      if (topic == nullptr || p < 0 || static_cast<size_t>(p) >= topic->partitions.size()) {
        answer(entry.topic, p, ErrorCode::unknown_topic_or_partition);
        continue;
      }
      auto [code, change] = elect(topic->id, PartitionId(p));
      if (change) emit(Record(std::move(*change)), decision.records);
      answer(entry.topic, p, code);
    }
  }
  return decision;
}

Decision<protocol::AlterPartitionResponse> Controller::alter_partition(
    const protocol::AlterPartitionRequest& request, int16_t version) {
  using Request = protocol::AlterPartitionRequest;
  using Response = protocol::AlterPartitionResponse;
  Decision<Response> decision;
  const BrokerId requester(request.broker_id);
  const BrokerRegistration* registration = image().broker(requester);
  if (registration == nullptr || (request.broker_epoch != -1 &&
                                  registration->epoch.value() != request.broker_epoch)) {
    decision.response.error_code = error_value(ErrorCode::stale_broker_epoch);
    return decision;
  }
  for (const Request::TopicData& topic : request.topics) {
    Response::TopicData& topic_answer = decision.response.topics.emplace_back();
    topic_answer.topic_id = topic.topic_id;
    const TopicId topic_id{topic.topic_id};
    for (const Request::PartitionData& asked : topic.partitions) {
      Response::PartitionData& answer = topic_answer.partitions.emplace_back();
      answer.partition_index = asked.partition_index;
      if (image().topic(topic_id) == nullptr) {
        answer.error_code = error_value(ErrorCode::unknown_topic_id);
        continue;
      }
      const PartitionId partition_id(asked.partition_index);
      const PartitionState* partition = image().partition(topic_id, partition_id);
      auto refuse = [&](ErrorCode code) { answer.error_code = error_value(code); };
      if (partition == nullptr) {
        refuse(ErrorCode::unknown_topic_or_partition);
        continue;
      }
      if (LeaderEpoch(asked.leader_epoch) > partition->leader_epoch ||
          PartitionEpoch(asked.partition_epoch) > partition->partition_epoch) {
        refuse(ErrorCode::not_controller);  // this controller is behind the requester
        continue;
      }
      if (LeaderEpoch(asked.leader_epoch) < partition->leader_epoch) {
        refuse(ErrorCode::fenced_leader_epoch);
        continue;
      }
      if (partition->leader != requester) {
        refuse(ErrorCode::invalid_request);
        continue;
      }
      if (PartitionEpoch(asked.partition_epoch) < partition->partition_epoch) {
        refuse(ErrorCode::invalid_update_version);
        continue;
      }
      // The new ISR with the broker epochs it names (-1: not checked).
      std::vector<std::pair<BrokerId, int64_t>> members;
      if (version >= 3) {
        for (const auto& member : asked.new_isr_with_epochs) {
          members.emplace_back(BrokerId(member.broker_id), member.broker_epoch);
        }
      } else {
        for (int32_t member : asked.new_isr) members.emplace_back(BrokerId(member), -1);
      }
      std::vector<BrokerId> isr;
      bool valid = true;
      for (const auto& [member, epoch] : members) {
        if (!partition->is_replica(member) ||
            std::find(isr.begin(), isr.end(), member) != isr.end()) {
          valid = false;
        }
        isr.push_back(member);
      }
      if (!valid || std::find(isr.begin(), isr.end(), requester) == isr.end() ||
          (asked.leader_recovery_state == 1 && isr.size() > 1) ||
          (partition->leader_recovery_state == 0 && asked.leader_recovery_state == 1)) {
        refuse(ErrorCode::invalid_request);
        continue;
      }
      const bool eligible = std::all_of(members.begin(), members.end(), [&](const auto& m) {
        const BrokerRegistration* broker = image().broker(m.first);
        return broker != nullptr && broker->is_active() &&
               (m.second == -1 || broker->epoch.value() == m.second);
      });
      if (!eligible) {
        refuse(ErrorCode::ineligible_replica);
        continue;
      }
      const bool recovered =
          partition->leader_recovery_state == 1 && asked.leader_recovery_state == 0;
      // The ISR change, with what follows from it (Controller::settle): KIP-966's
      // claims of members leaving an ISR below the minimum, and the completion of a
      // reassignment whose target replicas are all in sync now.
      auto change = settle(topic_id, partition_id, isr, kNoLeader, kNoLeader);
      if (recovered) {
        if (!change) {
          change.emplace();
          change->topic_id = topic_id;
          change->partition_id = partition_id;
        }
        change->leader_recovery_state = 0;
      }
      if (change) emit(std::move(*change), decision.records);
      const PartitionState* after = image().partition(topic_id, partition_id);
      answer.leader_id = after->leader.value();
      answer.leader_epoch = after->leader_epoch.value();
      answer.partition_epoch = after->partition_epoch.value();
      answer.leader_recovery_state = after->leader_recovery_state;
      for (BrokerId member : after->isr) answer.isr.push_back(member.value());
    }
  }
  return decision;
}

Decision<protocol::AllocateProducerIdsResponse> Controller::allocate_producer_ids(
    const protocol::AllocateProducerIdsRequest& request) {
  Decision<protocol::AllocateProducerIdsResponse> decision;
  const BrokerId broker(request.broker_id);
  const BrokerRegistration* registration = image().broker(broker);
  if (registration == nullptr || registration->epoch.value() != request.broker_epoch) {
    decision.response.error_code = error_value(ErrorCode::stale_broker_epoch);
    return decision;
  }
  const ProducerId start = image().next_producer_id();
  if (start.value() > std::numeric_limits<int64_t>::max() - kProducerIdBlockSize) {
    decision.response.error_code = error_value(ErrorCode::unknown_server_error);
    return decision;
  }
  emit(ProducerIdsRecord{broker, registration->epoch, start + kProducerIdBlockSize},
       decision.records);
  decision.response.producer_id_start = start.value();
  decision.response.producer_id_len = kProducerIdBlockSize;
  VERIFY(image().next_producer_id() == start + kProducerIdBlockSize);
  return decision;
}

// ---- time --------------------------------------------------------------------------

std::vector<Record> Controller::tick(int64_t now_ms) {
  std::vector<Record> records;
  std::vector<BrokerId> expired;
  for (const auto& [id, registration] : image().brokers()) {
    if (registration.fenced) continue;
    if (now_ms - last_heartbeat_ms(id) > settings_.broker_session_timeout_ms) {
      expired.push_back(id);
    }
  }
  for (BrokerId broker : expired) fence(broker, records);
  elect_leaderless(/*unclean_only=*/true, records);
  if (settings_.auto_leader_rebalance) {
    if (next_rebalance_ms_ < 0)
      next_rebalance_ms_ = now_ms + settings_.leader_imbalance_check_interval_ms;
    if (now_ms >= next_rebalance_ms_) {
      next_rebalance_ms_ = now_ms + settings_.leader_imbalance_check_interval_ms;
      constexpr size_t kElectionsPerPass = 1000;
      std::vector<PartitionChangeRecord> changes;
      for (const auto& [topic_id, topic] : image().topics()) {
        for (size_t index = 0; index < topic->partitions.size(); index++) {
          if (changes.size() >= kElectionsPerPass) break;
          auto [code, change] =
              preferred_election(topic_id, PartitionId(static_cast<int32_t>(index)));
          if (change) changes.push_back(std::move(*change));
        }
      }
      for (auto& change : changes) emit(std::move(change), records);
    }
  }
  return records;
}

int64_t Controller::next_deadline_ms() const {
  int64_t deadline = std::numeric_limits<int64_t>::max();
  if (settings_.auto_leader_rebalance && next_rebalance_ms_ >= 0) deadline = next_rebalance_ms_;
  for (const auto& [id, registration] : image().brokers()) {
    if (registration.fenced) continue;
    deadline = std::min(deadline, last_heartbeat_ms(id) + settings_.broker_session_timeout_ms + 1);
  }
  return deadline;
}

}  // namespace weir::metadata
