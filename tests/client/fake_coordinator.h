// The group coordinator of the fake broker: the real rules (src/group's ClassicGroup,
// the broker's own state machine) behind the wire protocol, with __consumer_offsets
// replaced by memory (a persist is committed at once) and committed offsets in a map.
// A parked JoinGroup or SyncGroup suspends its connection's serving fiber until the
// group answers, which keeps responses in request order as a real broker does; group
// timers (session timeouts, the join phase) run from scheduler timers.
//
// Faults: `fail_next` answers the next N group requests with an error code
// (NOT_COORDINATOR by default), to drive the client's coordinator rediscovery.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>

#include "group/classic_group.h"
#include "protocol/header.h"
#include "runtime/env.h"
#include "runtime/sync.h"

namespace weir::client::testing {

class FakeCoordinator {
 public:
  explicit FakeCoordinator(runtime::Env env, int32_t node_id, runtime::Address address)
      : env_(env), node_id_(node_id), address_(std::move(address)) {}

  // The answer to a group request, or nullopt when `request` is not one. May suspend
  // (a parked JoinGroup or SyncGroup).
  std::optional<protocol::ResponseBody> handle_wait(const protocol::Request& request);

  const group::ClassicGroup* group(const std::string& id) const;
  std::optional<int64_t> committed(const std::string& group, const std::string& topic,
                                   int32_t partition) const;

  int fail_next = 0;
  int16_t fail_error = 16;  // NOT_COORDINATOR
  int64_t heartbeats = 0;

 private:
  struct Group {
    std::unique_ptr<group::ClassicGroup> state;
    absl::btree_map<std::pair<std::string, int32_t>, int64_t> offsets;
  };
  Group& group_for(const std::string& id);
  group::Now now() const { return group::Now{env_.clock.now(), env_.clock.wall_now()}; }
  // Delivers replies, commits persists at once, and arms the group's next timer.
  void apply(const std::string& id, group::Effects effects);
  group::Response wait_for(group::Token token);

  runtime::Env env_;
  int32_t node_id_;
  runtime::Address address_;
  absl::btree_map<std::string, Group> groups_;
  uint64_t next_token_ = 1;
  absl::btree_map<uint64_t, group::Response> answered_;
  absl::btree_map<uint64_t, runtime::Waker> waiting_;
  absl::btree_set<std::pair<runtime::Instant, std::string>> timers_;
};

}  // namespace weir::client::testing
