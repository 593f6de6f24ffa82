#include "raft/service.h"

#include <utility>

#include "protocol/messages/api.h"

namespace weir::raft {

RaftService::RaftService(runtime::Env& env, RaftNode& node, rpc::ServerLimits limits)
    : env_(env), node_(node), server_(env, *this, limits) {}

bool RaftService::serves(int16_t api_key) const {
  if (api_key == static_cast<int16_t>(protocol::ApiKey::api_versions)) return true;
  if (RaftNode::serves(api_key)) return true;
  return extension_ && extension_->serves(api_key);
}

protocol::ResponseBody RaftService::api_versions_response(const protocol::RequestHeader&) {
  protocol::ApiVersionsResponse response;
  for (const protocol::ApiInfo& api : protocol::supported_apis()) {
    const auto key = static_cast<int16_t>(api.key);
    if (!serves(key)) continue;
    protocol::ApiVersionsResponse::ApiVersion entry;
    entry.api_key = key;
    entry.min_version = api.advertised_version_min;
    entry.max_version = api.version_max;
    response.api_keys.push_back(entry);
  }
  return response;
}

rpc::Reply RaftService::handle(const protocol::RequestHeader& header,
                               protocol::RequestBody&& body) {
  const auto key = header.api_key;
  if (key == static_cast<int16_t>(protocol::ApiKey::api_versions)) {
    return rpc::Reply{api_versions_response(header), {}};
  }
  if (!RaftNode::serves(key)) return extension_->handle(header, std::move(body));
  if (key == static_cast<int16_t>(protocol::ApiKey::fetch) ||
      key == static_cast<int16_t>(protocol::ApiKey::fetch_snapshot) ||
      key == static_cast<int16_t>(protocol::ApiKey::vote)) {
    // A fetch long-polls, a snapshot chunk is read from disk and a vote waits for its
    // fsync: each answers from a fiber so the connection keeps reading.
    auto promise = std::make_shared<runtime::Promise<protocol::ResponseBody>>(env_.scheduler);
    auto future = promise->future();
    server_.spawn("raft-request", [this, header, body = std::move(body), promise] {
      promise->set(node_.handle(header, body));
    });
    return rpc::Reply{std::nullopt, std::move(future)};
  }
  return rpc::Reply{node_.handle(header, body), {}};
}

}  // namespace weir::raft
