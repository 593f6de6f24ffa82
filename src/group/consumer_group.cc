// ConsumerGroup: KIP-848's rules. The names follow Kafka 4.x's GroupMetadataManager
// (consumerGroupHeartbeat), ConsumerGroup and CurrentAssignmentBuilder; deviations are
// commented where they are made.
#include "group/consumer_group.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "base/assert.h"

namespace weir::group {

namespace {

bool contains(const TopicPartitions& set, const Uuid& topic, int32_t partition) {
  auto it = set.find(topic);
  return it != set.end() && it->second.contains(partition);
}

void insert(TopicPartitions& set, const Uuid& topic, int32_t partition) {
  set[topic].insert(partition);
}

// a \ b, dropping topics left empty.
TopicPartitions minus(const TopicPartitions& a, const TopicPartitions& b) {
  TopicPartitions out;
  for (const auto& [topic, partitions] : a) {
    for (int32_t p : partitions) {
      if (!contains(b, topic, p)) insert(out, topic, p);
    }
  }
  return out;
}

TopicPartitions intersect(const TopicPartitions& a, const TopicPartitions& b) {
  TopicPartitions out;
  for (const auto& [topic, partitions] : a) {
    for (int32_t p : partitions) {
      if (contains(b, topic, p)) insert(out, topic, p);
    }
  }
  return out;
}

bool overlaps(const TopicPartitions& a, const TopicPartitions& b) {
  for (const auto& [topic, partitions] : a) {
    for (int32_t p : partitions) {
      if (contains(b, topic, p)) return true;
    }
  }
  return false;
}

size_t count(const TopicPartitions& set) {
  size_t n = 0;
  for (const auto& [topic, partitions] : set) n += partitions.size();
  return n;
}

// Empty topic entries carry no meaning: compare what is in the sets.
bool same(const TopicPartitions& a, const TopicPartitions& b) {
  return count(a) == count(b) && minus(a, b).empty();
}

std::vector<std::string> sorted_unique(std::vector<std::string> names) {
  std::ranges::sort(names);
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

}  // namespace

const char* to_string(ConsumerGroupState state) {
  switch (state) {
    case ConsumerGroupState::empty: return "Empty";
    case ConsumerGroupState::assigning: return "Assigning";
    case ConsumerGroupState::reconciling: return "Reconciling";
    case ConsumerGroupState::stable: return "Stable";
  }
  return "Unknown";
}

const char* to_string(MemberState state) {
  switch (state) {
    case MemberState::stable: return "STABLE";
    case MemberState::unrevoked_partitions: return "UNREVOKED_PARTITIONS";
    case MemberState::unreleased_partitions: return "UNRELEASED_PARTITIONS";
  }
  return "UNKNOWN";
}

std::optional<AssignorKind> parse_assignor(std::string_view name) {
  if (name == "uniform") return AssignorKind::uniform;
  if (name == "range") return AssignorKind::range;
  return std::nullopt;
}

const char* to_string(AssignorKind kind) {
  return kind == AssignorKind::uniform ? "uniform" : "range";
}

ConsumerGroup::ConsumerGroup(ConsumerGroupSettings settings)
    : settings_(std::move(settings)),
      // Epochs continue across coordinators: a group made afresh by a new coordinator
      // starts above every epoch an older one (a lower coordinator epoch) handed out.
      group_epoch_(settings_.coordinator_epoch * kEpochsPerCoordinator),
      assignment_epoch_(group_epoch_) {}

ConsumerHeartbeatResult ConsumerGroup::fail(ErrorCode error, std::string message) const {
  ConsumerHeartbeatResult result;
  result.error = error;
  result.error_message = std::move(message);
  result.heartbeat_interval_ms = static_cast<int32_t>(settings_.heartbeat_interval.count());
  return result;
}

// consumerGroupHeartbeat: validate, leave or join or update the member, bring the
// target assignment up to the group epoch, then reconcile the member.
ConsumerHeartbeatResult ConsumerGroup::heartbeat(const ConsumerHeartbeat& request, Instant now,
                                                 const TopicImage& topics) {
  // throwIfConsumerGroupHeartbeatRequestIsInvalid.
  if (request.member_epoch < kStaticLeaveEpoch) {
    return fail(ErrorCode::invalid_request, "MemberEpoch is invalid.");
  }
  if (request.member_id.empty() && request.member_epoch != kJoinEpoch) {
    return fail(ErrorCode::invalid_request, "MemberId can't be empty.");
  }
  if (request.member_epoch == kJoinEpoch) {
    if (request.rebalance_timeout_ms <= 0) {
      return fail(ErrorCode::invalid_request,
                  "RebalanceTimeoutMs must be provided in first request.");
    }
    if (!request.subscribed_topic_names) {
      return fail(ErrorCode::invalid_request,
                  "SubscribedTopicNames must be set in first request.");
    }
    if (!request.owned || !request.owned->empty()) {
      return fail(ErrorCode::invalid_request, "TopicPartitions must be empty when (re-)joining.");
    }
  }
  std::optional<AssignorKind> assignor;
  if (request.server_assignor) {
    assignor = parse_assignor(*request.server_assignor);
    if (!assignor) {
      return fail(ErrorCode::unsupported_assignor,
                  fmt::format("ServerAssignor {} is not supported. Supported assignors: uniform, "
                              "range.",
                              *request.server_assignor));
    }
  }

  // Leaving (epoch -1; a static member's temporary leave, -2, is a leave here).
  if (request.member_epoch == kLeaveEpoch || request.member_epoch == kStaticLeaveEpoch) {
    if (!members_.contains(request.member_id)) {
      return fail(ErrorCode::unknown_member_id,
                  fmt::format("Member {} is not a member of group {}.", request.member_id,
                              settings_.group_id));
    }
    remove_member(request.member_id);
    maybe_refresh_metadata(topics);
    maybe_compute_target(now);
    check_invariants();
    ConsumerHeartbeatResult left;
    left.member_id = request.member_id;
    left.member_epoch = request.member_epoch;
    left.heartbeat_interval_ms = static_cast<int32_t>(settings_.heartbeat_interval.count());
    return left;
  }

  std::string member_id = request.member_id;
  const bool joining = request.member_epoch == kJoinEpoch;
  bool bump = false;  // what the assignment depends on changed: one new group epoch
  if (joining) {
    // A restored group may hold ids an earlier coordinator made: never reuse one.
    while (member_id.empty() || (request.member_id.empty() && members_.contains(member_id))) {
      member_id = fmt::format("{}-{:08x}-{:016x}", request.client_id,
                              static_cast<uint32_t>(settings_.coordinator_epoch), next_member_++);
    }
    if (request.instance_id) {
      auto it = static_members_.find(*request.instance_id);
      if (it != static_members_.end() && it->second != member_id) {
        return fail(ErrorCode::unreleased_instance_id,
                    fmt::format("Static member {} with instance id {} is not released yet.",
                                it->second, *request.instance_id));
      }
    }
    auto existing = members_.find(member_id);
    if (existing == members_.end()) {
      if (static_cast<int64_t>(members_.size()) >= settings_.max_size) {
        return fail(ErrorCode::group_max_size_reached,
                    fmt::format("The consumer group has reached its maximum capacity of {} "
                                "members.",
                                settings_.max_size));
      }
      ConsumerMember member;
      member.member_id = member_id;
      members_.emplace(member_id, std::move(member));
      bump = true;  // a new member changes what the assignment is computed from
    } else {
      // A known member rejoining with epoch 0 lost its partitions (it was fenced, or
      // restarted with its id): what it held is free, and it starts over.
      ConsumerMember& again = existing->second;
      again.assigned.clear();
      again.pending_revocation.clear();
      again.state = MemberState::stable;
      again.revocation_deadline = Instant::max();
      again.member_epoch = 0;
      again.previous_member_epoch = -1;
    }
  } else {
    auto it = members_.find(member_id);
    if (it == members_.end()) {
      return fail(ErrorCode::unknown_member_id,
                  fmt::format("Member {} is not a member of group {}.", member_id,
                              settings_.group_id));
    }
    const ConsumerMember& member = it->second;
    // throwIfMemberEpochIsInvalid: one epoch behind is fine if the member owns only
    // what it was given (the response that moved it on may have been lost).
    const bool behind_but_consistent =
        request.member_epoch == member.previous_member_epoch && request.owned &&
        minus(*request.owned, member.assigned).empty();
    if (request.member_epoch != member.member_epoch && !behind_but_consistent) {
      return fail(ErrorCode::fenced_member_epoch,
                  fmt::format("The consumer group member has a different epoch ({}) than the "
                              "one known by the group coordinator ({}).",
                              request.member_epoch, member.member_epoch));
    }
  }

  ConsumerMember& member = members_.at(member_id);
  member.client_id = request.client_id;
  member.client_host = request.client_host;
  if (request.instance_id) {
    member.instance_id = request.instance_id;
    static_members_[*request.instance_id] = member_id;
  }
  if (request.rack_id) member.rack_id = request.rack_id;
  if (request.rebalance_timeout_ms > 0) {
    member.rebalance_timeout = milliseconds(request.rebalance_timeout_ms);
  }
  if (request.subscribed_topic_names) {
    std::vector<std::string> names = sorted_unique(*request.subscribed_topic_names);
    if (names != member.subscribed_topic_names) {
      member.subscribed_topic_names = std::move(names);
      bump = true;
    }
  }
  if (assignor && assignor != member.server_assignor) {
    member.server_assignor = assignor;
    bump = true;
  }
  if (bump) group_epoch_++;
  member.session_deadline = now + settings_.session_timeout;

  maybe_refresh_metadata(topics);
  maybe_compute_target(now);
  const int32_t epoch_before = member.member_epoch;
  const bool changed = reconcile(member, request.owned, now);
  check_invariants();

  ConsumerHeartbeatResult result;
  result.member_id = member_id;
  result.member_epoch = member.member_epoch;
  result.heartbeat_interval_ms = static_cast<int32_t>(settings_.heartbeat_interval.count());
  // The assignment goes out when it changed, on a join, and whenever the member's view
  // (what it says it owns) differs from it: a lost response is repaired by the next.
  if (changed || joining || epoch_before != member.member_epoch ||
      (request.owned && !same(*request.owned, member.assigned))) {
    result.assignment = member.assigned;
  }
  return result;
}

std::vector<std::string> ConsumerGroup::tick(Instant now, const TopicImage& topics) {
  std::vector<std::string> expired;
  for (const auto& [id, member] : members_) {
    if (member.session_deadline <= now) {
      expired.push_back(id);
    } else if (member.state == MemberState::unrevoked_partitions &&
               member.revocation_deadline <= now) {
      expired.push_back(id);  // did not revoke within its rebalance timeout: fenced
    }
  }
  for (const std::string& id : expired) remove_member(id);
  maybe_refresh_metadata(topics);
  maybe_compute_target(now);
  check_invariants();
  return expired;
}

Instant ConsumerGroup::next_deadline() const {
  Instant next = Instant::max();
  if (group_epoch_ > assignment_epoch_) next = settings_.assign_after;
  for (const auto& [id, member] : members_) {
    next = std::min(next, member.session_deadline);
    if (member.state == MemberState::unrevoked_partitions) {
      next = std::min(next, member.revocation_deadline);
    }
  }
  return next;
}

absl::btree_set<std::string> ConsumerGroup::subscribed_topics() const {
  absl::btree_set<std::string> names;
  for (const auto& [id, member] : members_) {
    names.insert(member.subscribed_topic_names.begin(), member.subscribed_topic_names.end());
  }
  return names;
}

ErrorCode ConsumerGroup::validate_offset_commit(const std::string& member_id,
                                                int32_t member_epoch) const {
  if (member_id.empty() && member_epoch < 0) {
    // A simple commit (an assign()ed consumer, an admin's reset): only while no member
    // could be racing it.
    return members_.empty() ? ErrorCode::none : ErrorCode::unknown_member_id;
  }
  auto it = members_.find(member_id);
  if (it == members_.end()) return ErrorCode::unknown_member_id;
  if (member_epoch != it->second.member_epoch) return ErrorCode::stale_member_epoch;
  return ErrorCode::none;
}

ConsumerGroupState ConsumerGroup::state() const {
  if (members_.empty()) return ConsumerGroupState::empty;
  if (group_epoch_ > assignment_epoch_) return ConsumerGroupState::assigning;
  for (const auto& [id, member] : members_) {
    if (member.member_epoch != assignment_epoch_ || member.state != MemberState::stable) {
      return ConsumerGroupState::reconciling;
    }
  }
  return ConsumerGroupState::stable;
}

// The group's assignor: the one its members name most (ties to the first by name), else
// the configured default (Kafka's ConsumerGroup.computePreferredServerAssignor).
AssignorKind ConsumerGroup::assignor() const {
  absl::btree_map<AssignorKind, int> votes;
  for (const auto& [id, member] : members_) {
    if (member.server_assignor) votes[*member.server_assignor]++;
  }
  std::optional<AssignorKind> best;
  int most = 0;
  for (const auto& [kind, n] : votes) {
    if (n > most) best = kind, most = n;
  }
  return best.value_or(settings_.default_assignor);
}

void ConsumerGroup::remove_member(const std::string& member_id) {
  auto it = members_.find(member_id);
  VERIFY(it != members_.end(), "removing unknown member {}", member_id);
  if (it->second.instance_id) static_members_.erase(*it->second.instance_id);
  members_.erase(it);
  target_.erase(member_id);
  group_epoch_++;
}

// A subscribed topic created, deleted or grown changes the assignment: bump the epoch.
void ConsumerGroup::maybe_refresh_metadata(const TopicImage& topics) {
  TopicImage now;
  for (const std::string& name : subscribed_topics()) {
    auto it = topics.find(name);
    if (it != topics.end()) now.emplace(name, it->second);
  }
  if (now != subscribed_metadata_) {
    subscribed_metadata_ = std::move(now);
    group_epoch_++;
  }
}

void ConsumerGroup::maybe_compute_target(Instant now) {
  if (group_epoch_ <= assignment_epoch_ || now < settings_.assign_after) return;
  absl::btree_map<std::string, AssignorMember> inputs;
  for (const auto& [id, member] : members_) {
    AssignorMember input;
    input.subscribed = member.subscribed_topic_names;
    if (auto it = target_.find(id); it != target_.end()) input.current = it->second;
    inputs.emplace(id, std::move(input));
  }
  target_ = assign(assignor(), inputs, subscribed_metadata_);
  assignment_epoch_ = group_epoch_;
}

bool ConsumerGroup::held_by_other(const std::string& member_id, const Uuid& topic,
                                  int32_t partition) const {
  for (const auto& [id, other] : members_) {
    if (id == member_id) continue;
    if (contains(other.assigned, topic, partition) ||
        contains(other.pending_revocation, topic, partition)) {
      return true;
    }
  }
  return false;
}

// CurrentAssignmentBuilder.computeNextAssignment, by the member's state.
bool ConsumerGroup::reconcile(ConsumerMember& member, const std::optional<TopicPartitions>& owned,
                              Instant now) {
  static const TopicPartitions kNothing;
  auto it = target_.find(member.member_id);
  const TopicPartitions& target = it == target_.end() ? kNothing : it->second;

  switch (member.state) {
    case MemberState::unrevoked_partitions:
      // Moves on only once a heartbeat shows the revoked partitions gone.
      if (!owned || overlaps(*owned, member.pending_revocation)) return false;
      member.pending_revocation.clear();
      member.revocation_deadline = Instant::max();
      break;
    case MemberState::unreleased_partitions: break;
    case MemberState::stable:
      if (member.member_epoch == assignment_epoch_) return false;
      break;
  }

  const TopicPartitions keep = intersect(member.assigned, target);
  const TopicPartitions revoke = minus(member.assigned, target);
  if (!revoke.empty()) {
    // First give up what the target takes away, at the current epoch.
    member.assigned = keep;
    member.pending_revocation = revoke;
    member.state = MemberState::unrevoked_partitions;
    member.revocation_deadline = now + member.rebalance_timeout;
    return true;
  }
  TopicPartitions next = keep;
  bool unreleased = false;
  for (const auto& [topic, partitions] : minus(target, member.assigned)) {
    for (int32_t p : partitions) {
      if (!settings_.flaw_assign_before_revoke && held_by_other(member.member_id, topic, p)) {
        unreleased = true;
      } else {
        insert(next, topic, p);
      }
    }
  }
  const bool changed = !same(next, member.assigned) || member.member_epoch != assignment_epoch_;
  member.assigned = std::move(next);
  if (member.member_epoch != assignment_epoch_) {
    member.previous_member_epoch = member.member_epoch;
    member.member_epoch = assignment_epoch_;
  }
  member.state = unreleased ? MemberState::unreleased_partitions : MemberState::stable;
  return changed;
}

std::string ConsumerGroup::broken_invariant() const {
  if (assignment_epoch_ > group_epoch_) {
    return fmt::format("assignment epoch {} beyond group epoch {}", assignment_epoch_,
                       group_epoch_);
  }
  absl::btree_map<std::pair<Uuid, int32_t>, std::string> holder;
  for (const auto& [id, member] : members_) {
    if (member.member_id != id) return fmt::format("member {} keyed as {}", member.member_id, id);
    if (member.member_epoch > assignment_epoch_) {
      return fmt::format("member {} at epoch {} beyond {}", id, member.member_epoch,
                         assignment_epoch_);
    }
    if (overlaps(member.assigned, member.pending_revocation)) {
      return fmt::format("member {} both owns and revokes a partition", id);
    }
    if (settings_.flaw_assign_before_revoke) continue;  // the flaw breaks the next one
    for (const TopicPartitions* set : {&member.assigned, &member.pending_revocation}) {
      for (const auto& [topic, partitions] : *set) {
        for (int32_t p : partitions) {
          auto [at, fresh] = holder.emplace(std::pair(topic, p), id);
          if (!fresh) return fmt::format("partition {} held by {} and {}", p, at->second, id);
        }
      }
    }
  }
  return "";
}

void ConsumerGroup::check_invariants() const {
  const std::string broken = broken_invariant();
  VERIFY(broken.empty(), "group {}: {}", settings_.group_id, broken);
}

// --- Records --------------------------------------------------------------------------------

namespace {

// Kafka's MemberState bytes.
int8_t member_state_byte(MemberState state) {
  switch (state) {
    case MemberState::stable: return 0;
    case MemberState::unrevoked_partitions: return 1;
    case MemberState::unreleased_partitions: return 2;
  }
  return 127;
}

std::optional<MemberState> member_state_from_byte(int8_t value) {
  switch (value) {
    case 0: return MemberState::stable;
    case 1: return MemberState::unrevoked_partitions;
    case 2: return MemberState::unreleased_partitions;
    default: return std::nullopt;
  }
}

OffsetsRecord make_record(const std::string& group_id, ConsumerRecordType type,
                          std::string member_id, RecordValue value) {
  return OffsetsRecord{ConsumerGroupKey{type, group_id, std::move(member_id)}, std::move(value)};
}

}  // namespace

void StoredConsumerGroup::replay(const ConsumerGroupKey& key,
                                 const std::optional<RecordValue>& value) {
  VERIFY(!value || value_matches(key, *value), "a consumer group record of mixed types");
  auto set = [&]<typename T>(std::optional<T>& slot) {
    slot.reset();
    if (value) slot = std::get<T>(*value);
  };
  auto set_member = [&]<typename T>(absl::btree_map<std::string, T>& map) {
    if (value) {
      map.insert_or_assign(key.member_id, std::get<T>(*value));
    } else {
      map.erase(key.member_id);
    }
  };
  switch (key.type) {
    case ConsumerRecordType::group_metadata: set(metadata); break;
    case ConsumerRecordType::partition_metadata: set(partition_metadata); break;
    case ConsumerRecordType::target_metadata: set(target_metadata); break;
    case ConsumerRecordType::member_metadata: set_member(members); break;
    case ConsumerRecordType::target_member: set_member(targets); break;
    case ConsumerRecordType::current_assignment: set_member(current); break;
  }
}

bool StoredConsumerGroup::empty() const {
  return !metadata && !partition_metadata && !target_metadata && members.empty() &&
         targets.empty() && current.empty();
}

std::vector<OffsetsRecord> StoredConsumerGroup::records(const std::string& group_id) const {
  std::vector<OffsetsRecord> out;
  using Type = ConsumerRecordType;
  if (metadata) out.push_back(make_record(group_id, Type::group_metadata, "", *metadata));
  if (partition_metadata) {
    out.push_back(make_record(group_id, Type::partition_metadata, "", *partition_metadata));
  }
  if (target_metadata) {
    out.push_back(make_record(group_id, Type::target_metadata, "", *target_metadata));
  }
  for (const auto& [id, value] : members) {
    out.push_back(make_record(group_id, Type::member_metadata, id, value));
  }
  for (const auto& [id, value] : targets) {
    out.push_back(make_record(group_id, Type::target_member, id, value));
  }
  for (const auto& [id, value] : current) {
    out.push_back(make_record(group_id, Type::current_assignment, id, value));
  }
  return out;
}

std::vector<OffsetsRecord> ConsumerGroup::records() const {
  using Type = ConsumerRecordType;
  const std::string& group_id = settings_.group_id;
  std::vector<OffsetsRecord> out;
  out.push_back(make_record(group_id, Type::group_metadata, "",
                            ConsumerGroupMetadataValue{group_epoch_}));
  ConsumerGroupPartitionMetadataValue topics;
  for (const auto& [name, shape] : subscribed_metadata_) {
    topics.topics.push_back(ConsumerTopicMetadata{shape.id, name, shape.partitions});
  }
  out.push_back(make_record(group_id, Type::partition_metadata, "", std::move(topics)));
  out.push_back(make_record(group_id, Type::target_metadata, "",
                            ConsumerGroupTargetMetadataValue{assignment_epoch_}));
  for (const auto& [id, member] : members_) {
    ConsumerGroupMemberMetadataValue metadata;
    metadata.instance_id = member.instance_id;
    metadata.rack_id = member.rack_id;
    metadata.client_id = member.client_id;
    metadata.client_host = member.client_host;
    metadata.subscribed_topic_names = member.subscribed_topic_names;
    metadata.rebalance_timeout_ms = static_cast<int32_t>(member.rebalance_timeout.count());
    if (member.server_assignor) metadata.server_assignor = to_string(*member.server_assignor);
    out.push_back(make_record(group_id, Type::member_metadata, id, std::move(metadata)));
    if (auto it = target_.find(id); it != target_.end()) {
      out.push_back(make_record(group_id, Type::target_member, id,
                                ConsumerGroupTargetMemberValue{it->second}));
    }
    ConsumerGroupCurrentAssignmentValue current;
    current.member_epoch = member.member_epoch;
    current.previous_member_epoch = member.previous_member_epoch;
    current.state = member_state_byte(member.state);
    current.assigned = member.assigned;
    current.pending_revocation = member.pending_revocation;
    out.push_back(make_record(group_id, Type::current_assignment, id, std::move(current)));
  }
  return out;
}

std::optional<ConsumerGroup> ConsumerGroup::restore(ConsumerGroupSettings settings,
                                                    const StoredConsumerGroup& stored,
                                                    Instant now) {
  if (!stored.metadata) return std::nullopt;  // every written group has its epoch
  ConsumerGroup group(std::move(settings));
  group.group_epoch_ = stored.metadata->epoch;
  group.assignment_epoch_ = stored.target_metadata ? stored.target_metadata->assignment_epoch : 0;
  if (stored.partition_metadata) {
    for (const ConsumerTopicMetadata& topic : stored.partition_metadata->topics) {
      group.subscribed_metadata_.emplace(topic.name, TopicShape{topic.id, topic.partitions});
    }
  }
  for (const auto& [id, metadata] : stored.members) {
    ConsumerMember member;
    member.member_id = id;
    member.instance_id = metadata.instance_id;
    member.rack_id = metadata.rack_id;
    member.client_id = metadata.client_id;
    member.client_host = metadata.client_host;
    member.subscribed_topic_names = sorted_unique(metadata.subscribed_topic_names);
    if (metadata.rebalance_timeout_ms > 0) {
      member.rebalance_timeout = milliseconds(metadata.rebalance_timeout_ms);
    }
    if (metadata.server_assignor) {
      member.server_assignor = parse_assignor(*metadata.server_assignor);
    }
    if (auto it = stored.current.find(id); it != stored.current.end()) {
      const std::optional<MemberState> state = member_state_from_byte(it->second.state);
      if (!state) return std::nullopt;
      member.member_epoch = it->second.member_epoch;
      member.previous_member_epoch = it->second.previous_member_epoch;
      member.state = *state;
      member.assigned = it->second.assigned;
      member.pending_revocation = it->second.pending_revocation;
    }
    // The sessions restart: a member had no way to reach this coordinator before.
    member.session_deadline = now + group.settings_.session_timeout;
    if (member.state == MemberState::unrevoked_partitions) {
      member.revocation_deadline = now + member.rebalance_timeout;
    }
    if (member.instance_id) group.static_members_[*member.instance_id] = id;
    group.members_.emplace(id, std::move(member));
  }
  for (const auto& [id, target] : stored.targets) {
    if (group.members_.contains(id)) group.target_.emplace(id, target.partitions);
  }
  if (!group.broken_invariant().empty()) return std::nullopt;
  return group;
}

// --- Assignors ----------------------------------------------------------------------------

namespace {

struct Slot {
  std::string topic_name;
  Uuid topic;
  int32_t partition;
};

// Every partition of the topics, by topic name then partition.
std::vector<Slot> all_partitions(const TopicImage& topics) {
  std::vector<Slot> out;
  for (const auto& [name, shape] : topics) {
    for (int32_t p = 0; p < shape.partitions; p++) out.push_back({name, shape.id, p});
  }
  return out;
}

bool subscribes(const AssignorMember& member, const std::string& topic) {
  return std::ranges::binary_search(member.subscribed, topic);
}

// Uniform: as even as the subscriptions allow and sticky. Each member first keeps what
// it had, up to its fair share; the rest goes, partition by partition, to the eligible
// member holding the fewest (ties to the member id that sorts first). With one
// subscription shared by all, counts differ by at most one.
absl::btree_map<std::string, TopicPartitions> assign_uniform(
    const absl::btree_map<std::string, AssignorMember>& members, const TopicImage& topics) {
  absl::btree_map<std::string, TopicPartitions> out;
  absl::btree_map<std::string, size_t> counts;
  for (const auto& [id, member] : members) {
    out[id];
    counts[id] = 0;
  }
  const std::vector<Slot> slots = all_partitions(topics);
  if (members.empty() || slots.empty()) return out;
  const size_t base = slots.size() / members.size();
  size_t extra = slots.size() % members.size();
  absl::btree_set<std::pair<Uuid, int32_t>> taken;
  // Stickiness: keep up to `base`, then one more while extra places remain.
  for (int pass = 0; pass < 2; pass++) {
    for (const auto& [id, member] : members) {
      for (const Slot& slot : slots) {
        if (!contains(member.current, slot.topic, slot.partition)) continue;
        if (taken.contains({slot.topic, slot.partition})) continue;
        if (!subscribes(member, slot.topic_name)) continue;
        if (pass == 0 && counts[id] >= base) break;
        if (pass == 1) {
          if (extra == 0 || counts[id] != base) break;
          extra--;
        }
        insert(out[id], slot.topic, slot.partition);
        taken.insert({slot.topic, slot.partition});
        counts[id]++;
        if (pass == 1) break;
      }
    }
  }
  for (const Slot& slot : slots) {
    if (taken.contains({slot.topic, slot.partition})) continue;
    const std::string* best = nullptr;
    for (const auto& [id, member] : members) {
      if (!subscribes(member, slot.topic_name)) continue;
      if (best == nullptr || counts[id] < counts[*best]) best = &id;
    }
    if (best == nullptr) continue;  // nobody subscribes to it
    insert(out[*best], slot.topic, slot.partition);
    counts[*best]++;
  }
  return out;
}

// Range: per topic, its subscribers (by member id) take contiguous ranges, the first
// partitions % subscribers of them one more (the classic range assignor's split).
absl::btree_map<std::string, TopicPartitions> assign_range(
    const absl::btree_map<std::string, AssignorMember>& members, const TopicImage& topics) {
  absl::btree_map<std::string, TopicPartitions> out;
  for (const auto& [id, member] : members) out[id];
  for (const auto& [name, shape] : topics) {
    std::vector<const std::string*> subscribers;
    for (const auto& [id, member] : members) {
      if (subscribes(member, name)) subscribers.push_back(&id);
    }
    if (subscribers.empty()) continue;
    const auto n = static_cast<int32_t>(subscribers.size());
    const int32_t per = shape.partitions / n;
    const int32_t extra = shape.partitions % n;
    int32_t next = 0;
    for (int32_t i = 0; i < n; i++) {
      const int32_t take = per + (i < extra ? 1 : 0);
      for (int32_t p = next; p < next + take; p++) insert(out[*subscribers[i]], shape.id, p);
      next += take;
    }
  }
  return out;
}

}  // namespace

absl::btree_map<std::string, TopicPartitions> assign(
    AssignorKind kind, const absl::btree_map<std::string, AssignorMember>& members,
    const TopicImage& topics) {
  return kind == AssignorKind::uniform ? assign_uniform(members, topics)
                                       : assign_range(members, topics);
}

}  // namespace weir::group
