#include "client/group_consumer.h"

#include <algorithm>
#include <charconv>

#include <absl/container/btree_set.h>

#include "base/assert.h"
#include "client/coordinator.h"

namespace weir::client {

using protocol::ErrorCode;
using record::Offset;
using runtime::Instant;

namespace {

int32_t to_ms(runtime::Duration duration) {
  return static_cast<int32_t>(std::min<int64_t>(
      std::chrono::duration_cast<runtime::milliseconds>(duration).count(), INT32_MAX));
}

std::optional<int64_t> parse_count(std::string_view value) {
  int64_t n = 0;
  auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (error != std::errc{} || end != value.data() + value.size() || n < 0) return std::nullopt;
  return n;
}

}  // namespace

std::optional<std::string> apply_group_consumer_property(GroupConsumerConfig& config,
                                                         std::string_view key,
                                                         std::string_view value) {
  auto bad = [&] { return fmt::format("invalid value '{}' for {}", value, key); };
  auto duration = [&](runtime::Duration& target, bool allow_zero) -> std::optional<std::string> {
    auto n = parse_count(value);
    if (!n || (*n == 0 && !allow_zero) || *n > INT32_MAX) return bad();
    target = runtime::milliseconds(*n);
    return std::nullopt;
  };
  if (key == "group.id") {
    if (value.empty()) return bad();
    config.group_id = value;
    return std::nullopt;
  }
  if (key == "group.protocol") {
    if (value == "classic") {
      config.protocol = GroupProtocol::classic;
    } else if (value == "consumer") {
      config.protocol = GroupProtocol::consumer;
    } else {
      return fmt::format("invalid value '{}' for {} (classic, consumer)", value, key);
    }
    return std::nullopt;
  }
  if (key == "group.remote.assignor") {
    if (value.empty()) return bad();
    config.remote_assignor = std::string(value);
    return std::nullopt;
  }
  if (key == "group.instance.id") {
    if (value.empty()) return bad();
    config.group_instance_id = std::string(value);
    return std::nullopt;
  }
  if (key == "session.timeout.ms") return duration(config.session_timeout, false);
  if (key == "heartbeat.interval.ms") return duration(config.heartbeat_interval, false);
  if (key == "max.poll.interval.ms") return duration(config.max_poll_interval, false);
  if (key == "auto.commit.interval.ms") return duration(config.auto_commit_interval, true);
  if (key == "enable.auto.commit") {
    if (value != "true" && value != "false") return bad();
    config.enable_auto_commit = value == "true";
    return std::nullopt;
  }
  if (key == "partition.assignment.strategy") {
    // Kafka takes class names or short names, comma separated, in preference order.
    std::vector<AssignorKind> kinds;
    std::string_view rest = value;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      std::string_view name = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
      while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
      if (name == "org.apache.kafka.clients.consumer.RangeAssignor") name = "range";
      if (name == "org.apache.kafka.clients.consumer.RoundRobinAssignor") name = "roundrobin";
      auto kind = assignor_from_name(name);
      if (!kind) {
        return fmt::format("invalid value '{}' for {} (range, roundrobin)", value, key);
      }
      if (std::find(kinds.begin(), kinds.end(), *kind) == kinds.end()) kinds.push_back(*kind);
    }
    if (kinds.empty()) return bad();
    config.assignors = std::move(kinds);
    return std::nullopt;
  }
  return apply_consumer_property(config.consumer, key, value);
}

std::optional<std::string> validate_group_consumer_config(const GroupConsumerConfig& config) {
  if (config.group_id.empty()) return std::string("group.id is required");
  if (config.heartbeat_interval >= config.session_timeout) {
    return std::string("heartbeat.interval.ms must be lower than session.timeout.ms");
  }
  if (config.assignors.empty()) return std::string("partition.assignment.strategy is empty");
  return std::nullopt;
}

struct GroupConsumer::State {
  State(Cluster& c, GroupConsumerConfig conf)
      : cluster(c), env(c.env()), config(std::move(conf)), consumer(c, config.consumer),
        membership(MembershipTimeouts{config.session_timeout, config.heartbeat_interval,
                                      config.max_poll_interval, config.consumer.retry_backoff},
                   config.group_instance_id.has_value()) {}

  Cluster& cluster;
  runtime::Env env;
  GroupConsumerConfig config;
  Consumer consumer;
  Membership membership;
  std::vector<std::string> topics;  // the subscription, sorted
  // The coordinator's own connection (Kafka's clients do the same): a JoinGroup may be
  // parked for up to the rebalance timeout, longer than request.timeout.ms, and must
  // not hold up other requests to that broker.
  std::shared_ptr<Connection> coordinator;
  // Partitions whose starting offset is still to be fetched from the coordinator.
  bool offsets_pending = false;
  std::vector<TopicPartition> pending_offsets;  // which (sorted)
  // The leader's view of the subscribed topics when it last assigned. Like Kafka's
  // leader, it rejoins when a partition count changes — a topic created after the join
  // (the members would otherwise keep an empty assignment forever) or partitions added.
  std::vector<std::string> assigned_topics;
  PartitionCounts assigned_counts;
  Instant next_metadata_check;
  void check_leader_metadata_wait();
  bool revoked = true;  // the assignment was given up for the coming rejoin
  uint64_t assignments_applied = 0;  // GroupConsumer::assignments_applied()
  Instant next_auto_commit{};
  std::optional<Error> fatal;
  bool closed = false;
  bool heartbeat_running = false;
  runtime::Waker heartbeat_waker;

  void wake_heartbeat() {
    if (heartbeat_waker.valid()) heartbeat_waker.wake();
  }
  void drop_coordinator() {
    membership.coordinator_lost();
    if (coordinator) coordinator->close();
    coordinator.reset();
  }
  ClientResult<void> ensure_coordinator_wait(Instant deadline);
  // Sends to the coordinator and waits for the answer. JoinGroup waits as long as the
  // connection allows (the rebalance timeout); everything else only request.timeout.ms,
  // after which the coordinator is presumed gone (as a Kafka client's per-request
  // timeout does), so a hung coordinator cannot hold a heartbeat past the session.
  ResponseResult coordinator_call_wait(protocol::RequestBody body,
                                       std::optional<int16_t> version = std::nullopt);
  ClientResult<void> join_wait(Instant deadline);
  ClientResult<GroupAssignment> leader_assign_wait(const protocol::JoinGroupResponse& joined);
  ClientResult<void> fetch_starting_offsets_wait(Instant deadline);
  ClientResult<absl::btree_map<TopicPartition, std::optional<Offset>>> fetch_committed_wait(
      const std::vector<TopicPartition>& partitions, Instant deadline);
  ClientResult<void> commit_wait(const absl::btree_map<TopicPartition, Offset>& offsets);
  absl::btree_map<TopicPartition, Offset> positions() const;
  void leave_wait(std::string_view reason);
  void start_heartbeat(const std::shared_ptr<State>& self);
  void heartbeat_once_wait();

  // --- KIP-848 (group.protocol=consumer) ------------------------------------------------
  using IdPartition = std::pair<protocol::Uuid, int32_t>;
  struct Kip848 {
    std::string member_id;  // "" until the coordinator names us (v0)
    int32_t epoch = 0;      // 0: (re)join
    absl::btree_set<IdPartition> owned;  // what poll applied: reported in every heartbeat
    // The last assignment the coordinator sent that poll has not applied yet.
    std::optional<absl::btree_set<IdPartition>> target;
    bool lost = false;      // fenced or forgotten: poll gives up everything, then rejoin
    // When the next heartbeat goes: at once (Instant{}) to join, or to tell the
    // coordinator what poll gave up or took; else the interval it asked for.
    Instant next_heartbeat{};
    runtime::Duration interval = runtime::seconds(5);
    Instant last_poll{};
    uint64_t losses = 0;
    std::optional<Instant> last_ok;  // the last heartbeat the coordinator answered
  } kip;
  bool consumer_protocol() const { return config.protocol == GroupProtocol::consumer; }
  bool can_commit() const {
    return consumer_protocol() ? kip.epoch > 0 && !kip.member_id.empty()
                               : membership.can_commit();
  }
  void kip_heartbeat_once_wait();
  // Sends a leave (epoch -1, or -2 for a static member) if joined.
  void kip_leave_wait();
  ClientResult<void> kip_reconcile_wait();
};

ClientResult<void> GroupConsumer::State::ensure_coordinator_wait(Instant deadline) {
  if (membership.coordinator() && coordinator && coordinator->is_open()) return {};
  drop_coordinator();
  auto found = find_coordinator_wait(cluster, config.group_id, deadline);
  if (!found) return unexpected(found.error());
  ConnectionOptions options = cluster.options().connection;
  // JoinGroup waits up to the rebalance timeout at the coordinator; Kafka's client
  // allows it that plus 5 seconds.
  options.request_timeout =
      std::max(options.request_timeout, config.max_poll_interval + runtime::seconds(5));
  auto connected = Connection::connect(env, found->address, options);
  if (!connected) return unexpected(connected.error());
  coordinator = std::shared_ptr<Connection>(std::move(connected).value());
  membership.coordinator_found(found->node_id);
  return {};
}

ResponseResult GroupConsumer::State::coordinator_call_wait(protocol::RequestBody body,
                                                           std::optional<int16_t> version) {
  if (!coordinator || !coordinator->is_open()) {
    drop_coordinator();
    return unexpected(Error::of(ErrorKind::disconnected, "group coordinator"));
  }
  std::shared_ptr<Connection> connection = coordinator;
  const bool join = std::holds_alternative<protocol::JoinGroupRequest>(body);
  auto future = connection->send(std::move(body), version);
  std::optional<Instant> deadline;
  if (!join) deadline = env.clock.now() + cluster.options().connection.request_timeout;
  auto answer = future.get_until(deadline);
  ResponseResult response =
      answer ? std::move(*answer)
             : ResponseResult(unexpected(
                   Error::of(future.broken() ? ErrorKind::disconnected : ErrorKind::timed_out,
                             "group coordinator")));
  if (!response) {
    // Only forget the coordinator this call went to; another fiber may have found a
    // new one meanwhile.
    if (coordinator == connection) drop_coordinator();
  }
  return response;
}

absl::btree_map<TopicPartition, Offset> GroupConsumer::State::positions() const {
  absl::btree_map<TopicPartition, Offset> out;
  for (const TopicPartition& tp : consumer.assignment()) {
    // Nothing consumed yet where the starting offset is still being fetched.
    if (offsets_pending && std::binary_search(pending_offsets.begin(), pending_offsets.end(), tp)) {
      continue;
    }
    if (auto position = consumer.position(tp)) out[tp] = *position;
  }
  return out;
}

ClientResult<GroupAssignment> GroupConsumer::State::leader_assign_wait(
    const protocol::JoinGroupResponse& joined) {
  std::vector<AssignorMember> members;
  std::vector<std::string> all_topics;
  for (const auto& member : joined.members) {
    AssignorMember entry;
    entry.member_id = member.member_id;
    entry.group_instance_id = member.group_instance_id;
    auto subscription = decode_subscription(member.metadata);
    if (subscription) {
      entry.subscription = std::move(subscription).value();
    } else {
      // A member whose metadata does not decode subscribes to nothing; it still gets
      // an (empty) assignment so its SyncGroup completes.
      env.log.write(fmt::format("group {}: member {} subscription: {}", config.group_id,
                                member.member_id,
                                protocol_decode_error_name(subscription.error())));
    }
    for (const std::string& topic : entry.subscription.topics) all_topics.push_back(topic);
    members.push_back(std::move(entry));
  }
  std::sort(all_topics.begin(), all_topics.end());
  all_topics.erase(std::unique(all_topics.begin(), all_topics.end()), all_topics.end());
  PartitionCounts counts;
  if (!all_topics.empty()) {
    auto refreshed = cluster.refresh_metadata_wait(all_topics);
    if (!refreshed) return unexpected(refreshed.error());
    for (const std::string& topic : all_topics) {
      const TopicInfo* info = cluster.topic(topic);
      if (info != nullptr && info->error_code == 0 && !info->partitions.empty()) {
        counts[topic] = static_cast<int32_t>(info->partitions.size());
      }
    }
  }
  assigned_topics = all_topics;
  assigned_counts = counts;
  next_metadata_check =
      env.clock.now() + (counts.size() < all_topics.size() ? runtime::seconds(1)
                                                           : cluster.options().metadata_max_age);
  const auto kind = assignor_from_name(joined.protocol_name.value_or(""));
  if (!kind) {
    return unexpected(Error::of(ErrorKind::invalid_argument,
                                fmt::format("group {} chose unknown assignor '{}'", config.group_id,
                                            joined.protocol_name.value_or(""))));
  }
  return assign(*kind, members, counts);
}

void GroupConsumer::State::check_leader_metadata_wait() {
  const Instant now = env.clock.now();
  if (!membership.is_leader() || assigned_topics.empty() || now < next_metadata_check) return;
  // A topic missing from the last assignment is looked for often; otherwise at
  // metadata.max.age.ms, as Kafka's consumer refreshes.
  const bool missing = assigned_counts.size() < assigned_topics.size();
  next_metadata_check = now + (missing ? runtime::seconds(1) : cluster.options().metadata_max_age);
  if (!cluster.refresh_metadata_wait(assigned_topics)) return;
  PartitionCounts counts;
  for (const std::string& topic : assigned_topics) {
    const TopicInfo* info = cluster.topic(topic);
    if (info != nullptr && info->error_code == 0 && !info->partitions.empty()) {
      counts[topic] = static_cast<int32_t>(info->partitions.size());
    }
  }
  if (counts != assigned_counts) {
    env.log.write(
        fmt::format("group {}: subscribed topics changed; the leader rejoins", config.group_id));
    membership.request_rejoin();
  }
}

ClientResult<void> GroupConsumer::State::join_wait(Instant deadline) {
  // One attempt even past the deadline (poll(0) still makes progress); retries stop at
  // it, and the next poll carries on from the Membership's state.
  for (bool first = true; membership.needs_join(); first = false) {
    if (closed) return unexpected(Error::of(ErrorKind::closed, "group consumer closed"));
    if (!first && env.clock.now() >= deadline) return {};
    if (auto found = ensure_coordinator_wait(deadline); !found) {
      if (!found.error().retriable() && found.error().kind == ErrorKind::kafka) {
        return unexpected(found.error());
      }
      if (env.clock.now() + config.consumer.retry_backoff >= deadline) return {};
      env.scheduler.sleep_for(config.consumer.retry_backoff);
      continue;
    }
    if (!revoked) {
      // Eager rebalancing: commit what was consumed, then give everything up.
      if (config.enable_auto_commit && membership.can_commit()) {
        auto committed = commit_wait(positions());
        if (!committed) {
          env.log.write(fmt::format("group {}: commit before rebalance: {}", config.group_id,
                                    committed.error().to_string()));
        }
      }
      consumer.assign({});
      assignments_applied++;
      offsets_pending = false;
      revoked = true;
      continue;  // the commit may have lost the coordinator
    }
    protocol::JoinGroupRequest join;
    join.group_id = config.group_id;
    join.session_timeout_ms = to_ms(config.session_timeout);
    join.rebalance_timeout_ms = to_ms(config.max_poll_interval);
    join.member_id = membership.member_id();
    join.group_instance_id = config.group_instance_id;
    join.protocol_type = std::string(kConsumerProtocolType);
    Subscription subscription;
    subscription.topics = topics;
    for (AssignorKind kind : config.assignors) {
      auto& offered = join.protocols.emplace_back();
      offered.name = std::string(assignor_name(kind));
      offered.metadata = encode_subscription(subscription);
    }
    membership.join_sent();
    auto response = coordinator_call_wait(std::move(join));
    if (!response) {
      membership.on_coordinator_call_failed();
      continue;
    }
    const auto& joined = std::get<protocol::JoinGroupResponse>(**response);
    const auto code = static_cast<ErrorCode>(joined.error_code);
    const GroupReaction reaction =
        membership.on_join_response(code, joined.member_id, joined.generation_id, joined.leader);
    if (reaction == GroupReaction::fatal) {
      fatal = Error::kafka(joined.error_code, fmt::format("JoinGroup {}", config.group_id));
      return unexpected(*fatal);
    }
    if (reaction == GroupReaction::rediscover) drop_coordinator();
    if (code != ErrorCode::none) {
      if (reaction != GroupReaction::retry && reaction != GroupReaction::rejoin) {
        if (env.clock.now() + config.consumer.retry_backoff >= deadline) return {};
        env.scheduler.sleep_for(config.consumer.retry_backoff);
      }
      continue;
    }
    protocol::SyncGroupRequest sync;
    sync.group_id = config.group_id;
    sync.generation_id = joined.generation_id;
    sync.member_id = joined.member_id;
    sync.group_instance_id = config.group_instance_id;
    sync.protocol_type = std::string(kConsumerProtocolType);
    sync.protocol_name = joined.protocol_name;
    if (membership.is_leader() && !joined.skip_assignment) {
      auto assigned = leader_assign_wait(joined);
      if (!assigned) {
        // Without an assignment the group cannot complete; start over.
        env.log.write(fmt::format("group {}: assignment failed: {}", config.group_id,
                                  assigned.error().to_string()));
        membership.on_coordinator_call_failed();
        drop_coordinator();
        continue;
      }
      for (const auto& [member_id, assignment] : *assigned) {
        auto& entry = sync.assignments.emplace_back();
        entry.member_id = member_id;
        entry.assignment = encode_assignment(assignment);
      }
    }
    membership.sync_sent();
    auto synced_response = coordinator_call_wait(std::move(sync));
    if (!synced_response) {
      membership.on_coordinator_call_failed();
      continue;
    }
    const auto& synced = std::get<protocol::SyncGroupResponse>(**synced_response);
    const GroupReaction sync_reaction =
        membership.on_sync_response(static_cast<ErrorCode>(synced.error_code), env.clock.now());
    if (sync_reaction == GroupReaction::fatal) {
      fatal = Error::kafka(synced.error_code, fmt::format("SyncGroup {}", config.group_id));
      return unexpected(*fatal);
    }
    if (sync_reaction == GroupReaction::rediscover) drop_coordinator();
    if (synced.error_code != 0) continue;
    std::vector<TopicPartition> partitions;
    if (!synced.assignment.empty()) {
      auto assignment = decode_assignment(synced.assignment);
      if (!assignment) {
        fatal = Error::of(ErrorKind::malformed_response,
                          fmt::format("group {} assignment: {}", config.group_id,
                                      protocol_decode_error_name(assignment.error())));
        return unexpected(*fatal);
      }
      for (TopicPartition& tp : assignment->partitions) {
        // Only what we subscribe to: a leader with an older view may hand out more.
        if (std::binary_search(topics.begin(), topics.end(), tp.topic)) {
          partitions.push_back(std::move(tp));
        }
      }
    }
    consumer.assign(partitions);
    assignments_applied++;
    offsets_pending = true;
    pending_offsets = consumer.assignment();
    revoked = false;
    next_auto_commit = env.clock.now() + config.auto_commit_interval;
    env.log.write(fmt::format("group {}: member {} generation {}{} assigned {} partition(s)",
                              config.group_id, membership.member_id(), membership.generation(),
                              membership.is_leader() ? " (leader)" : "", partitions.size()));
    wake_heartbeat();
  }
  return {};
}

ClientResult<absl::btree_map<TopicPartition, std::optional<Offset>>>
GroupConsumer::State::fetch_committed_wait(const std::vector<TopicPartition>& partitions,
                                           Instant deadline) {
  while (true) {
    std::optional<Error> retry;
    if (auto found = ensure_coordinator_wait(deadline); !found) {
      if (found.error().kind == ErrorKind::kafka && !found.error().retriable()) {
        return unexpected(found.error());
      }
      retry = found.error();
    } else {
      protocol::OffsetFetchRequest request;
      request.group_id = config.group_id;
      request.topics.emplace();
      for (const TopicPartition& tp : partitions) {
        if (request.topics->empty() || request.topics->back().name != tp.topic) {
          request.topics->emplace_back().name = tp.topic;
        }
        request.topics->back().partition_indexes.push_back(tp.partition);
      }
      // v1-7 name one group; weir asks for one.
      const int16_t version =
          std::min<int16_t>(coordinator->version(protocol::ApiKey::offset_fetch).value_or(1), 7);
      auto response = coordinator_call_wait(std::move(request), version);
      if (!response) {
        retry = response.error();
      } else {
        const auto& body = std::get<protocol::OffsetFetchResponse>(**response);
        ErrorCode code = static_cast<ErrorCode>(body.error_code);
        absl::btree_map<TopicPartition, std::optional<Offset>> out;
        for (const auto& topic : body.topics) {
          for (const auto& partition : topic.partitions) {
            if (partition.error_code != 0 && code == ErrorCode::none) {
              code = static_cast<ErrorCode>(partition.error_code);
            }
            std::optional<Offset> offset;
            if (partition.committed_offset >= 0) offset = Offset{partition.committed_offset};
            out[TopicPartition{topic.name, partition.partition_index}] = offset;
          }
        }
        if (code == ErrorCode::none) return out;
        const GroupReaction reaction = group_reaction(code);
        if (reaction == GroupReaction::rediscover) drop_coordinator();
        if (reaction != GroupReaction::rediscover && reaction != GroupReaction::retry) {
          return unexpected(Error::kafka(protocol::error_value(code), "OffsetFetch"));
        }
        retry = Error::kafka(protocol::error_value(code), "OffsetFetch");
      }
    }
    if (env.clock.now() + config.consumer.retry_backoff >= deadline) return unexpected(*retry);
    env.scheduler.sleep_for(config.consumer.retry_backoff);
  }
}

ClientResult<void> GroupConsumer::State::fetch_starting_offsets_wait(Instant deadline) {
  const std::vector<TopicPartition> wanted = pending_offsets;
  if (wanted.empty()) {
    offsets_pending = false;
    return {};
  }
  auto committed = fetch_committed_wait(wanted, deadline);
  if (!committed) return unexpected(committed.error());
  // A rebalance may have come in while we waited: the answer is for that assignment.
  if (pending_offsets != wanted) return {};
  const std::vector<TopicPartition> assigned = consumer.assignment();
  for (const auto& [tp, offset] : *committed) {
    // Without a committed offset the position stays unknown: the Consumer applies
    // auto.offset.reset at its first poll.
    if (offset && std::binary_search(assigned.begin(), assigned.end(), tp) &&
        std::binary_search(wanted.begin(), wanted.end(), tp)) {
      consumer.seek(tp, *offset);
    }
  }
  offsets_pending = false;
  pending_offsets.clear();
  return {};
}

ClientResult<void> GroupConsumer::State::commit_wait(
    const absl::btree_map<TopicPartition, Offset>& offsets) {
  if (offsets.empty()) return {};
  const Instant deadline = env.clock.now() + cluster.options().connection.request_timeout;
  // Kafka's CommitFailedException: the generation is gone, the group rebalanced.
  auto not_a_member = [] {
    return unexpected(Error::kafka(protocol::error_value(ErrorCode::illegal_generation),
                                   "commit: not a member of the current generation"));
  };
  while (true) {
    if (!can_commit()) return not_a_member();
    std::optional<Error> retry;
    if (auto found = ensure_coordinator_wait(deadline); !found) {
      if (found.error().kind == ErrorKind::kafka && !found.error().retriable()) {
        return unexpected(found.error());
      }
      retry = found.error();
    } else if (!can_commit()) {
      // The membership changed while the coordinator was looked up (the heartbeat
      // fiber left or reset it): its generation -1 and empty member id would make this
      // a simple commit, which an Empty group accepts — stale positions over the next
      // owner's (groups seed 446).
      return not_a_member();
    } else {
      protocol::OffsetCommitRequest request;
      request.group_id = config.group_id;
      request.generation_id_or_member_epoch =
          consumer_protocol() ? kip.epoch : membership.generation();
      request.member_id = consumer_protocol() ? kip.member_id : membership.member_id();
      request.group_instance_id = config.group_instance_id;
      for (const auto& [tp, offset] : offsets) {
        if (request.topics.empty() || request.topics.back().name != tp.topic) {
          request.topics.emplace_back().name = tp.topic;
        }
        auto& partition = request.topics.back().partitions.emplace_back();
        partition.partition_index = tp.partition;
        partition.committed_offset = offset.value();
        partition.committed_metadata = std::string();
      }
      auto response = coordinator_call_wait(std::move(request));
      if (!response) {
        retry = response.error();
      } else {
        const auto& body = std::get<protocol::OffsetCommitResponse>(**response);
        ErrorCode code = ErrorCode::none;
        for (const auto& topic : body.topics) {
          for (const auto& partition : topic.partitions) {
            if (partition.error_code != 0 && code == ErrorCode::none) {
              code = static_cast<ErrorCode>(partition.error_code);
            }
          }
        }
        if (code == ErrorCode::none) return {};
        // KIP-848: a stale epoch or a fencing is the heartbeat's to sort out.
        const GroupReaction reaction = consumer_protocol() ? group_reaction(code)
                                                           : membership.on_commit_error(code);
        Error error = Error::kafka(protocol::error_value(code),
                                   fmt::format("OffsetCommit {}", config.group_id));
        if (reaction == GroupReaction::rediscover) drop_coordinator();
        if (reaction != GroupReaction::rediscover && reaction != GroupReaction::retry) {
          return unexpected(error);
        }
        retry = error;
      }
    }
    if (env.clock.now() + config.consumer.retry_backoff >= deadline) return unexpected(*retry);
    env.scheduler.sleep_for(config.consumer.retry_backoff);
  }
}

void GroupConsumer::State::leave_wait(std::string_view reason) {
  if (membership.member_id().empty() || !coordinator || !coordinator->is_open()) {
    membership.left();
    return;
  }
  protocol::LeaveGroupRequest request;
  request.group_id = config.group_id;
  request.member_id = membership.member_id();     // v0-2
  auto& member = request.members.emplace_back();  // v3+
  member.member_id = membership.member_id();
  member.group_instance_id = config.group_instance_id;
  member.reason = std::string(reason);
  membership.left();
  auto response = coordinator_call_wait(std::move(request));
  if (!response) {
    env.log.write(
        fmt::format("group {}: LeaveGroup: {}", config.group_id, response.error().to_string()));
  }
}

void GroupConsumer::State::heartbeat_once_wait() {
  if (consumer_protocol()) {
    kip_heartbeat_once_wait();
    return;
  }
  const Instant now = env.clock.now();
  if (membership.poll_interval_exceeded(now)) {
    env.log.write(fmt::format("group {}: no poll within max.poll.interval.ms; leaving the group",
                              config.group_id));
    // Static members are not removed by LeaveGroup with their instance id here (that
    // would fence the next incarnation); they stop heartbeating and rejoin at poll.
    if (!config.group_instance_id) leave_wait("consumer poll timeout has expired");
    membership.left();
    return;
  }
  if (membership.session_expired(now)) {
    drop_coordinator();
    return;
  }
  auto due = membership.heartbeat_due();
  if (!due || now < *due) return;
  protocol::HeartbeatRequest request;
  request.group_id = config.group_id;
  request.generation_id = membership.generation();
  request.member_id = membership.member_id();
  request.group_instance_id = config.group_instance_id;
  const int32_t generation = membership.generation();
  membership.heartbeat_sent(now);
  auto response = coordinator_call_wait(std::move(request));
  if (!response) return;  // the coordinator is forgotten; poll finds it again
  const auto& body = std::get<protocol::HeartbeatResponse>(**response);
  const GroupReaction reaction = membership.on_heartbeat_response(
      static_cast<ErrorCode>(body.error_code), generation, env.clock.now());
  if (reaction == GroupReaction::rediscover) drop_coordinator();
  if (reaction == GroupReaction::fatal) {
    fatal = Error::kafka(body.error_code, fmt::format("Heartbeat {}", config.group_id));
  }
}


// --- KIP-848 ------------------------------------------------------------------------------

void GroupConsumer::State::kip_heartbeat_once_wait() {
  const Instant now = env.clock.now();
  // Every attempt moves the next one past now: the heartbeat fiber never spins.
  const runtime::Duration backoff =
      std::max<runtime::Duration>(config.consumer.retry_backoff, runtime::milliseconds(1));
  if (topics.empty() || kip.lost) return;  // nothing to join for; or poll must give up first
  if (kip.epoch > 0 && now - kip.last_poll > config.max_poll_interval) {
    // Not polled within max.poll.interval.ms: leave so the others need not wait, and
    // rejoin at the next poll (as the classic member does).
    env.log.write(fmt::format("group {}: no poll within max.poll.interval.ms; leaving the group",
                              config.group_id));
    // Lost first: poll must not apply an assignment while the leave is in flight.
    kip.lost = true;
    kip.target.reset();
    if (config.on_poll_timeout_leave) config.on_poll_timeout_leave();
    kip_leave_wait();
    return;
  }
  if (now < kip.next_heartbeat) return;
  if (auto found = ensure_coordinator_wait(now + cluster.options().connection.request_timeout);
      !found) {
    if (found.error().kind == ErrorKind::kafka && !found.error().retriable()) fatal = found.error();
    kip.next_heartbeat = env.clock.now() + backoff;
    return;
  }
  protocol::ConsumerGroupHeartbeatRequest request;
  request.group_id = config.group_id;
  request.member_id = kip.member_id;
  request.member_epoch = kip.epoch;
  request.instance_id = config.group_instance_id;
  request.rebalance_timeout_ms = to_ms(config.max_poll_interval);
  request.subscribed_topic_names = topics;
  request.server_assignor = config.remote_assignor;
  auto& owned = request.topic_partitions.emplace();
  for (const auto& [topic, partition] : kip.owned) {
    if (owned.empty() || owned.back().topic_id != topic) owned.emplace_back().topic_id = topic;
    owned.back().partitions.push_back(partition);
  }
  // v0: the coordinator makes the member id (v1 would have us make a UUID).
  auto response = coordinator_call_wait(std::move(request), int16_t{0});
  const Instant after = env.clock.now();
  if (!response) {
    kip.next_heartbeat = after + backoff;
    return;
  }
  const auto& body = std::get<protocol::ConsumerGroupHeartbeatResponse>(**response);
  const auto code = static_cast<ErrorCode>(body.error_code);
  switch (code) {
    case ErrorCode::none: break;
    case ErrorCode::unknown_member_id:
    case ErrorCode::fenced_member_epoch:
      // The coordinator no longer counts us in: what we own may be someone else's now.
      env.log.write(fmt::format("group {}: member {} {}; rejoining", config.group_id,
                                kip.member_id, protocol::error_name(code)));
      if (code == ErrorCode::unknown_member_id) kip.member_id.clear();
      kip.epoch = 0;
      kip.lost = true;
      kip.target.reset();
      return;
    default:
      if (group_reaction(code) == GroupReaction::rediscover) drop_coordinator();
      if (group_reaction(code) == GroupReaction::fatal &&
          code != ErrorCode::unreleased_instance_id) {
        fatal = Error::kafka(body.error_code,
                             fmt::format("ConsumerGroupHeartbeat {}: {}", config.group_id,
                                         body.error_message.value_or("")));
        return;
      }
      kip.next_heartbeat = after + backoff;
      return;
  }
  if (body.member_id) kip.member_id = *body.member_id;
  kip.epoch = body.member_epoch;
  kip.last_ok = after;
  if (body.heartbeat_interval_ms > 0) {
    kip.interval = runtime::milliseconds(body.heartbeat_interval_ms);
  }
  kip.next_heartbeat = after + kip.interval;
  if (body.assignment) {
    absl::btree_set<IdPartition> target;
    for (const auto& topic : body.assignment->topic_partitions) {
      for (int32_t partition : topic.partitions) target.emplace(topic.topic_id, partition);
    }
    kip.target = std::move(target);
  }
}

void GroupConsumer::State::kip_leave_wait() {
  if (kip.member_id.empty() || kip.epoch <= 0 || !coordinator || !coordinator->is_open()) {
    kip.epoch = 0;
    return;
  }
  protocol::ConsumerGroupHeartbeatRequest request;
  request.group_id = config.group_id;
  request.member_id = kip.member_id;
  // A static member leaves for now (-2): its instance may come back within the session.
  request.member_epoch = config.group_instance_id ? -2 : -1;
  request.instance_id = config.group_instance_id;
  kip.epoch = 0;
  auto response = coordinator_call_wait(std::move(request), int16_t{0});
  if (!response) {
    env.log.write(fmt::format("group {}: leaving: {}", config.group_id,
                              response.error().to_string()));
  }
}

// Applies the coordinator's latest assignment: gives up (after committing) what it no
// longer holds, then takes what it was given, then has the heartbeat say so at once.
ClientResult<void> GroupConsumer::State::kip_reconcile_wait() {
  if (kip.lost) {
    // Fenced: nothing can be committed any more; everything goes.
    kip.losses++;
    consumer.assign({});
    assignments_applied++;
    if (config.on_assignment) config.on_assignment(kip.epoch, {}, true);
    kip.owned.clear();
    offsets_pending = false;
    pending_offsets.clear();
    kip.lost = false;
    kip.next_heartbeat = Instant{};  // rejoin at once
    wake_heartbeat();
    return {};
  }
  if (!kip.target || *kip.target == kip.owned) {
    kip.target.reset();
    return {};
  }
  // Names of the topic ids: the subscribed topics' metadata.
  absl::btree_map<protocol::Uuid, std::string> names;
  auto name_all = [&] {
    names.clear();
    for (const std::string& topic : topics) {
      if (const TopicInfo* info = cluster.topic(topic); info != nullptr && info->error_code == 0) {
        names[info->topic_id] = topic;
      }
    }
  };
  name_all();
  bool unknown = false;
  for (const auto& [topic, partition] : *kip.target) unknown = unknown || !names.contains(topic);
  if (unknown) {
    if (auto refreshed = cluster.refresh_metadata_wait(topics); refreshed) name_all();
  }
  const absl::btree_set<IdPartition> target = *kip.target;
  std::vector<TopicPartition> revoked;
  absl::btree_set<IdPartition> keep;
  for (const IdPartition& held : kip.owned) {
    if (target.contains(held)) {
      keep.insert(held);
    } else if (auto name = names.find(held.first); name != names.end()) {
      revoked.push_back(TopicPartition{name->second, held.second});
    }
  }
  if (keep.size() != kip.owned.size() && config.enable_auto_commit && can_commit()) {
    // Commit what was consumed of the partitions going away, at the current epoch
    // (the coordinator keeps it while we revoke).
    absl::btree_map<TopicPartition, Offset> offsets;
    const absl::btree_map<TopicPartition, Offset> all = positions();
    for (const TopicPartition& tp : revoked) {
      if (auto it = all.find(tp); it != all.end()) offsets.insert(*it);
    }
    if (auto committed = commit_wait(offsets); !committed) {
      env.log.write(fmt::format("group {}: commit before revoking: {}", config.group_id,
                                committed.error().to_string()));
    }
  }
  if (kip.lost) return kip_reconcile_wait();  // fenced while committing
  absl::btree_set<IdPartition> next = keep;
  std::vector<TopicPartition> partitions;
  std::vector<TopicPartition> added;
  for (const IdPartition& wanted : target) {
    auto name = names.find(wanted.first);
    if (name == names.end()) continue;  // a topic we cannot name yet: taken later
    const TopicPartition tp{name->second, wanted.second};
    partitions.push_back(tp);
    if (!kip.owned.contains(wanted)) added.push_back(tp);
    next.insert(wanted);
  }
  consumer.assign(partitions);
  assignments_applied++;
  if (config.on_assignment) config.on_assignment(kip.epoch, consumer.assignment(), false);
  kip.owned = std::move(next);
  if (kip.owned == target) kip.target.reset();
  std::ranges::sort(added);
  if (!added.empty()) {
    offsets_pending = true;
    pending_offsets.insert(pending_offsets.end(), added.begin(), added.end());
    std::ranges::sort(pending_offsets);
  }
  std::erase_if(pending_offsets, [&](const TopicPartition& tp) {
    return !std::binary_search(partitions.begin(), partitions.end(), tp);
  });
  if (pending_offsets.empty()) offsets_pending = false;
  env.log.write(fmt::format("group {}: member {} epoch {} owns {} partition(s)", config.group_id,
                            kip.member_id, kip.epoch, kip.owned.size()));
  kip.next_heartbeat = Instant{};  // tell the coordinator at once
  wake_heartbeat();
  return {};
}

void GroupConsumer::State::start_heartbeat(const std::shared_ptr<State>& self) {
  if (heartbeat_running) return;
  heartbeat_running = true;
  // The fiber owns a reference: it ends at its next wake after close or destruction.
  env.scheduler.spawn(fmt::format("group-heartbeat-{}", config.group_id), [self] {
    State& state = *self;
    while (!state.closed && !state.fatal) {
      state.heartbeat_once_wait();
      if (state.closed) break;
      const Instant now = state.env.clock.now();
      Instant wake = now + state.config.heartbeat_interval;
      if (state.consumer_protocol()) {
        // Nothing to send while unsubscribed or until poll has given everything up
        // (poll wakes the fiber then); otherwise at the next heartbeat's time, which a
        // send always moves past now (by the interval or the retry backoff).
        wake = state.topics.empty() || state.kip.lost
                   ? now + state.kip.interval
                   : std::max(now, state.kip.next_heartbeat);
      } else if (auto due = state.membership.heartbeat_due()) {
        wake = std::max(now, std::min(wake, *due));
      }
      state.heartbeat_waker = state.env.scheduler.prepare_wait();
      state.env.scheduler.suspend(wake);
      state.heartbeat_waker = runtime::Waker{};
    }
    state.heartbeat_running = false;
  });
}

GroupConsumer::GroupConsumer(Cluster& cluster, GroupConsumerConfig config)
    : state_(std::make_shared<State>(cluster, std::move(config))) {
  VERIFY(!validate_group_consumer_config(state_->config).has_value(),
         "validate_group_consumer_config first");
}

GroupConsumer::~GroupConsumer() {
  state_->closed = true;
  state_->wake_heartbeat();
  if (state_->coordinator) state_->coordinator->close();
}

void GroupConsumer::subscribe(std::vector<std::string> topics) {
  std::sort(topics.begin(), topics.end());
  topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
  if (topics == state_->topics) return;
  state_->topics = std::move(topics);
  state_->membership.request_rejoin();
}

ClientResult<std::vector<ConsumerRecord>> GroupConsumer::poll(runtime::Duration timeout) {
  State& state = *state_;
  if (state.closed) return unexpected(Error::of(ErrorKind::closed, "group consumer closed"));
  if (state.fatal) return unexpected(*state.fatal);
  state.start_heartbeat(state_);
  const Instant deadline = state.env.clock.now() + timeout;
  state.membership.polled(state.env.clock.now());
  state.kip.last_poll = state.env.clock.now();
  if (state.consumer_protocol()) {
    if (auto reconciled = state.kip_reconcile_wait(); !reconciled) {
      return unexpected(reconciled.error());
    }
  } else if (state.membership.needs_join()) {
    auto joined = state.join_wait(deadline);
    if (!joined) return unexpected(joined.error());
    if (state.membership.needs_join()) return std::vector<ConsumerRecord>{};
  }
  if (!state.consumer_protocol() && !state.membership.coordinator()) {
    // Stable but the coordinator was lost: find it so heartbeats resume (a failure is
    // retried at the next poll; the assignment stays meanwhile).
    (void)state.ensure_coordinator_wait(
        std::max(deadline, state.env.clock.now() + state.config.consumer.retry_backoff));
    state.wake_heartbeat();
  }
  if (state.offsets_pending) {
    // A short deadline must not fail poll: the fetch is retried at the next one.
    auto fetched = state.fetch_starting_offsets_wait(
        std::max(deadline, state.env.clock.now() + state.config.consumer.retry_backoff));
    if (!fetched) {
      if (fetched.error().kind == ErrorKind::kafka && !fetched.error().retriable()) {
        return unexpected(fetched.error());
      }
      return std::vector<ConsumerRecord>{};
    }
    if (state.offsets_pending) return std::vector<ConsumerRecord>{};
  }
  if (!state.consumer_protocol()) state.check_leader_metadata_wait();
  if (state.config.enable_auto_commit && state.env.clock.now() >= state.next_auto_commit) {
    state.next_auto_commit = state.env.clock.now() + state.config.auto_commit_interval;
    if (auto committed = state.commit_wait(state.positions()); !committed) {
      state.env.log.write(fmt::format("group {}: auto commit: {}", state.config.group_id,
                                      committed.error().to_string()));
    }
  }
  const Instant now = state.env.clock.now();
  auto records = state.consumer.poll(deadline > now ? deadline - now : runtime::Duration::zero());
  state.membership.polled(state.env.clock.now());
  state.kip.last_poll = state.env.clock.now();
  return records;
}

ClientResult<void> GroupConsumer::commit_wait() {
  if (state_->closed) return unexpected(Error::of(ErrorKind::closed, "group consumer closed"));
  return state_->commit_wait(state_->positions());
}

ClientResult<void> GroupConsumer::commit_wait(
    const absl::btree_map<TopicPartition, Offset>& offsets) {
  if (state_->closed) return unexpected(Error::of(ErrorKind::closed, "group consumer closed"));
  return state_->commit_wait(offsets);
}

ClientResult<absl::btree_map<TopicPartition, std::optional<Offset>>> GroupConsumer::committed_wait(
    const std::vector<TopicPartition>& partitions) {
  return state_->fetch_committed_wait(
      partitions, state_->env.clock.now() + state_->cluster.options().connection.request_timeout);
}

ClientResult<void> GroupConsumer::close() {
  State& state = *state_;
  if (state.closed) return {};
  ClientResult<void> result;
  if (state.consumer_protocol()) {
    if (state.config.enable_auto_commit && state.can_commit()) {
      result = state.commit_wait(state.positions());
    }
    state.kip_leave_wait();
  } else {
    if (state.config.enable_auto_commit && state.membership.can_commit() && !state.revoked) {
      result = state.commit_wait(state.positions());
    }
    // A static member keeps its place across restarts: it does not leave (Kafka's
    // close() does not send LeaveGroup for a group.instance.id either).
    if (!state.config.group_instance_id) state.leave_wait("the consumer is being closed");
  }
  state.closed = true;
  state.consumer.assign({});
  state.wake_heartbeat();
  if (state.coordinator) state.coordinator->close();
  return result;
}

std::vector<TopicPartition> GroupConsumer::assignment() const {
  return state_->consumer.assignment();
}

void GroupConsumer::seek(const TopicPartition& partition, Offset offset) {
  state_->consumer.seek(partition, offset);
}

std::optional<Offset> GroupConsumer::position(const TopicPartition& partition) const {
  return state_->consumer.position(partition);
}

const Membership& GroupConsumer::membership() const { return state_->membership; }

uint64_t GroupConsumer::losses() const { return state_->kip.losses; }

uint64_t GroupConsumer::assignments_applied() const { return state_->assignments_applied; }

const std::string& GroupConsumer::member_id() const {
  return state_->consumer_protocol() ? state_->kip.member_id : state_->membership.member_id();
}

std::optional<Instant> GroupConsumer::last_heartbeat_ok() const { return state_->kip.last_ok; }

int32_t GroupConsumer::generation() const {
  return state_->consumer_protocol() ? state_->kip.epoch : state_->membership.generation();
}

}  // namespace weir::client
