// FindCoordinator: the group and transaction coordinators' addresses (none yet).
#include "broker/broker.h"

namespace weir::broker {

using protocol::error_value;
using protocol::ErrorCode;

protocol::ResponseBody Broker::find_coordinator(const protocol::RequestHeader& header,
                                                const protocol::FindCoordinatorRequest& request) {
  // Group and transaction coordinators come with their issues. Until then the answer
  // is COORDINATOR_NOT_AVAILABLE, which clients retry; serving the api at all matters
  // now: librdkafka enables lz4 only for a broker that lists FindCoordinator.
  protocol::FindCoordinatorResponse response;
  const auto code = error_value(ErrorCode::coordinator_not_available);
  const std::string message = "weir serves no group or transaction coordinator yet";
  response.node_id = -1;
  if (header.api_version < 4) {
    response.error_code = code;
    if (header.api_version >= 1) response.error_message = message;
    return response;
  }
  for (const std::string& key : request.coordinator_keys) {
    auto& coordinator = response.coordinators.emplace_back();
    coordinator.key = key;
    coordinator.node_id = -1;
    coordinator.error_code = code;
    coordinator.error_message = message;
  }
  return response;
}

}  // namespace weir::broker
