// Finding a group's coordinator (FindCoordinator, key type GROUP), shared by the
// GroupConsumer and the Admin's group calls.
#pragma once

#include <cstdint>
#include <string>

#include "client/cluster.h"
#include "client/errors.h"

namespace weir::client {

struct CoordinatorInfo {
  int32_t node_id = -1;
  runtime::Address address;
};

// Asks any broker, retrying COORDINATOR_NOT_AVAILABLE and connection failures every
// retry.backoff until `deadline`; fails with the last error then, or at once with a
// non-retriable one (INVALID_GROUP_ID, GROUP_AUTHORIZATION_FAILED). May suspend.
ClientResult<CoordinatorInfo> find_coordinator_wait(Cluster& cluster, const std::string& group_id,
                                                    runtime::Instant deadline);

}  // namespace weir::client
