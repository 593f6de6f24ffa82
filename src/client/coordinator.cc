#include "client/coordinator.h"

#include <algorithm>

namespace weir::client {

using protocol::ErrorCode;

ClientResult<CoordinatorInfo> find_coordinator_wait(Cluster& cluster, const std::string& group_id,
                                                    runtime::Instant deadline) {
  runtime::Env& env = cluster.env();
  Error last = Error::of(ErrorKind::timed_out, "FindCoordinator");
  while (true) {
    auto connection = cluster.any_connection_wait();
    if (connection) {
      // v0-3 name one key; v4+ batch them. One group needs no batch, and every broker
      // since Kafka 2.0 serves v2.
      const int16_t negotiated =
          (*connection)->version(protocol::ApiKey::find_coordinator).value_or(int16_t{-1});
      if (negotiated < 0) {
        return unexpected(Error::of(ErrorKind::unsupported, "FindCoordinator"));
      }
      const int16_t version = std::min<int16_t>(negotiated, 3);
      protocol::FindCoordinatorRequest request;
      request.key = group_id;
      request.key_type = 0;  // GROUP
      auto response = (*connection)->send_and_wait(std::move(request), version);
      if (response) {
        const auto& body = std::get<protocol::FindCoordinatorResponse>(**response);
        if (body.error_code == 0) {
          CoordinatorInfo info;
          info.node_id = body.node_id;
          info.address = runtime::Address{body.host, static_cast<uint16_t>(body.port)};
          return info;
        }
        last = Error::kafka(body.error_code, fmt::format("FindCoordinator {}: {}", group_id,
                                                         body.error_message.value_or("")));
        const auto code = static_cast<ErrorCode>(body.error_code);
        if (code != ErrorCode::coordinator_not_available && code != ErrorCode::not_coordinator &&
            code != ErrorCode::coordinator_load_in_progress) {
          return unexpected(last);
        }
      } else {
        last = response.error();
        cluster.invalidate();
      }
    } else {
      last = connection.error();
    }
    const runtime::Duration backoff = cluster.options().retry_backoff;
    if (env.clock.now() + backoff >= deadline) return unexpected(last);
    env.scheduler.sleep_for(backoff);
  }
}

}  // namespace weir::client
