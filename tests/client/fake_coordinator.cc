#include "fake_coordinator.h"

#include "protocol/errors.h"

namespace weir::client::testing {

using protocol::ErrorCode;

FakeCoordinator::Group& FakeCoordinator::group_for(const std::string& id) {
  auto found = groups_.find(id);
  if (found != groups_.end()) return found->second;
  group::GroupSettings settings;
  settings.group_id = id;
  settings.coordinator_epoch = 1;
  settings.initial_rebalance_delay = std::chrono::milliseconds(100);
  Group& created = groups_[id];
  created.state = std::make_unique<group::ClassicGroup>(settings, now());
  return created;
}

const group::ClassicGroup* FakeCoordinator::group(const std::string& id) const {
  auto found = groups_.find(id);
  return found == groups_.end() ? nullptr : found->second.state.get();
}

std::optional<int64_t> FakeCoordinator::committed(const std::string& group,
                                                  const std::string& topic,
                                                  int32_t partition) const {
  auto found = groups_.find(group);
  if (found == groups_.end()) return std::nullopt;
  auto offset = found->second.offsets.find({topic, partition});
  if (offset == found->second.offsets.end()) return std::nullopt;
  return offset->second;
}

void FakeCoordinator::apply(const std::string& id, group::Effects effects) {
  while (true) {
    for (group::Reply& reply : effects.replies) {
      const uint64_t token = reply.token.value();
      answered_.emplace(token, std::move(reply.response));
      auto waiter = waiting_.find(token);
      if (waiter != waiting_.end()) waiter->second.wake();
    }
    if (effects.persists.empty()) break;
    // The in-memory __consumer_offsets: every append is committed at once.
    group::Effects next;
    for (const group::PersistRequest& persist : effects.persists) {
      group::Effects more = groups_.at(id).state->on_persisted(persist.id, now());
      next.replies.insert(next.replies.end(), std::make_move_iterator(more.replies.begin()),
                          std::make_move_iterator(more.replies.end()));
      next.persists.insert(next.persists.end(), more.persists.begin(), more.persists.end());
    }
    next.next_deadline = groups_.at(id).state->next_deadline();
    effects = std::move(next);
  }
  const runtime::Instant deadline = groups_.at(id).state->next_deadline();
  if (deadline == runtime::Instant::max() || timers_.contains({deadline, id})) return;
  timers_.insert({deadline, id});
  env_.scheduler.schedule_at(deadline, [this, deadline, id] {
    timers_.erase({deadline, id});
    apply(id, groups_.at(id).state->tick(now()));
  });
}

group::Response FakeCoordinator::wait_for(group::Token token) {
  const uint64_t key = token.value();
  while (!answered_.contains(key)) {
    waiting_[key] = env_.scheduler.prepare_wait();
    env_.scheduler.suspend();
  }
  waiting_.erase(key);
  group::Response response = std::move(answered_.at(key));
  answered_.erase(key);
  return response;
}

std::optional<protocol::ResponseBody> FakeCoordinator::handle_wait(
    const protocol::Request& request) {
  const auto& body = request.body;
  const bool group_api = std::holds_alternative<protocol::JoinGroupRequest>(body) ||
                         std::holds_alternative<protocol::SyncGroupRequest>(body) ||
                         std::holds_alternative<protocol::HeartbeatRequest>(body) ||
                         std::holds_alternative<protocol::LeaveGroupRequest>(body) ||
                         std::holds_alternative<protocol::OffsetCommitRequest>(body) ||
                         std::holds_alternative<protocol::OffsetFetchRequest>(body);
  if (const auto* find = std::get_if<protocol::FindCoordinatorRequest>(&body)) {
    (void)find;
    protocol::FindCoordinatorResponse response;
    response.node_id = node_id_;
    response.host = address_.host;
    response.port = address_.port;
    return response;
  }
  if (!group_api) return std::nullopt;
  const int16_t version = request.header.api_version;
  const std::string client_id = request.header.client_id.value_or("");
  if (fail_next > 0) {
    fail_next--;
    if (std::holds_alternative<protocol::JoinGroupRequest>(body)) {
      protocol::JoinGroupResponse response;
      response.error_code = fail_error;
      return response;
    }
    if (std::holds_alternative<protocol::SyncGroupRequest>(body)) {
      protocol::SyncGroupResponse response;
      response.error_code = fail_error;
      return response;
    }
    if (std::holds_alternative<protocol::HeartbeatRequest>(body)) {
      protocol::HeartbeatResponse response;
      response.error_code = fail_error;
      return response;
    }
    if (std::holds_alternative<protocol::LeaveGroupRequest>(body)) {
      protocol::LeaveGroupResponse response;
      response.error_code = fail_error;
      return response;
    }
    if (const auto* commit = std::get_if<protocol::OffsetCommitRequest>(&body)) {
      protocol::OffsetCommitResponse response;
      for (const auto& topic : commit->topics) {
        auto& out = response.topics.emplace_back();
        out.name = topic.name;
        for (const auto& partition : topic.partitions) {
          auto& p = out.partitions.emplace_back();
          p.partition_index = partition.partition_index;
          p.error_code = fail_error;
        }
      }
      return response;
    }
    protocol::OffsetFetchResponse response;
    response.error_code = fail_error;
    return response;
  }
  const group::Token token{next_token_++};
  if (const auto* join = std::get_if<protocol::JoinGroupRequest>(&body)) {
    group::JoinRequest in;
    in.api_version = version;
    in.member_id = join->member_id;
    in.group_instance_id = join->group_instance_id;
    in.client_id = client_id;
    in.session_timeout_ms = join->session_timeout_ms;
    in.rebalance_timeout_ms = join->rebalance_timeout_ms;
    in.protocol_type = join->protocol_type;
    for (const auto& offered : join->protocols) {
      in.protocols.push_back(group::Protocol{offered.name, offered.metadata});
    }
    Group& g = group_for(join->group_id);
    apply(join->group_id, g.state->join(in, token, now()));
    auto joined = std::get<group::JoinResponse>(wait_for(token));
    protocol::JoinGroupResponse response;
    response.error_code = protocol::error_value(joined.error);
    response.generation_id = joined.generation.value();
    response.protocol_type = joined.protocol_type;
    response.protocol_name = joined.protocol_name;
    response.leader = joined.leader;
    response.skip_assignment = joined.skip_assignment;
    response.member_id = joined.member_id;
    for (const group::JoinMember& member : joined.members) {
      auto& entry = response.members.emplace_back();
      entry.member_id = member.member_id;
      entry.group_instance_id = member.group_instance_id;
      entry.metadata = member.metadata;
    }
    return response;
  }
  if (const auto* sync = std::get_if<protocol::SyncGroupRequest>(&body)) {
    group::SyncRequest in;
    in.generation = group::GenerationId{sync->generation_id};
    in.member_id = sync->member_id;
    in.group_instance_id = sync->group_instance_id;
    in.protocol_type = sync->protocol_type;
    in.protocol_name = sync->protocol_name;
    for (const auto& assignment : sync->assignments) {
      in.assignments.push_back(group::SyncAssignment{assignment.member_id, assignment.assignment});
    }
    apply(sync->group_id, group_for(sync->group_id).state->sync(in, token, now()));
    auto synced = std::get<group::SyncResponse>(wait_for(token));
    protocol::SyncGroupResponse response;
    response.error_code = protocol::error_value(synced.error);
    response.protocol_type = synced.protocol_type;
    response.protocol_name = synced.protocol_name;
    response.assignment = synced.assignment;
    return response;
  }
  if (const auto* beat = std::get_if<protocol::HeartbeatRequest>(&body)) {
    heartbeats++;
    group::HeartbeatRequest in{group::GenerationId{beat->generation_id}, beat->member_id,
                               beat->group_instance_id};
    apply(beat->group_id, group_for(beat->group_id).state->heartbeat(in, token, now()));
    protocol::HeartbeatResponse response;
    response.error_code =
        protocol::error_value(std::get<group::HeartbeatResponse>(wait_for(token)).error);
    return response;
  }
  if (const auto* leave = std::get_if<protocol::LeaveGroupRequest>(&body)) {
    group::LeaveRequest in;
    if (version <= 2) {
      in.members.push_back(group::LeaveMember{leave->member_id, std::nullopt});
    } else {
      for (const auto& member : leave->members) {
        in.members.push_back(group::LeaveMember{member.member_id, member.group_instance_id});
      }
    }
    apply(leave->group_id, group_for(leave->group_id).state->leave(in, token, now()));
    auto left = std::get<group::LeaveResponse>(wait_for(token));
    protocol::LeaveGroupResponse response;
    response.error_code = protocol::error_value(left.error);
    for (const auto& member : left.members) {
      auto& entry = response.members.emplace_back();
      entry.member_id = member.member_id;
      entry.group_instance_id = member.group_instance_id;
      entry.error_code = protocol::error_value(member.error);
    }
    return response;
  }
  if (const auto* commit = std::get_if<protocol::OffsetCommitRequest>(&body)) {
    Group& g = group_for(commit->group_id);
    const ErrorCode check = g.state->validate_offset_commit(
        group::CommitIdentity{group::GenerationId{commit->generation_id_or_member_epoch},
                              commit->member_id, commit->group_instance_id, false});
    protocol::OffsetCommitResponse response;
    for (const auto& topic : commit->topics) {
      auto& out = response.topics.emplace_back();
      out.name = topic.name;
      for (const auto& partition : topic.partitions) {
        auto& p = out.partitions.emplace_back();
        p.partition_index = partition.partition_index;
        p.error_code = protocol::error_value(check);
        if (check == ErrorCode::none) {
          g.offsets[{topic.name, partition.partition_index}] = partition.committed_offset;
        }
      }
    }
    return response;
  }
  const auto& fetch = std::get<protocol::OffsetFetchRequest>(body);
  VERIFY(version <= 7, "the client asks OffsetFetch v1-7");
  Group& g = group_for(fetch.group_id);
  protocol::OffsetFetchResponse response;
  VERIFY(fetch.topics.has_value(), "the group consumer names its partitions");
  for (const auto& topic : *fetch.topics) {
    auto& out = response.topics.emplace_back();
    out.name = topic.name;
    for (int32_t index : topic.partition_indexes) {
      auto& p = out.partitions.emplace_back();
      p.partition_index = index;
      auto found = g.offsets.find({topic.name, index});
      p.committed_offset = found == g.offsets.end() ? -1 : found->second;
      p.metadata = std::string();
    }
  }
  return response;
}

}  // namespace weir::client::testing
