// RaftService: a controller listener's request handler. It answers ApiVersions and the
// quorum's APIs (Vote, BeginQuorumEpoch, EndQuorumEpoch, Fetch of the metadata log,
// DescribeQuorum) for a RaftNode, and hands any other api to an extension (the
// controller's BrokerRegistration, CreateTopics, ...). It owns the rpc::Server.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "raft/node.h"
#include "rpc/server.h"

namespace weir::raft {

// More apis on the same listener.
class ApiExtension {
 public:
  virtual ~ApiExtension() = default;
  virtual bool serves(int16_t api_key) const = 0;
  // May suspend (ordered part); may return a Reply that completes later.
  virtual rpc::Reply handle(const protocol::RequestHeader& header,
                            protocol::RequestBody&& body) = 0;
};

class RaftService final : public rpc::RequestHandler {
 public:
  RaftService(runtime::Env& env, RaftNode& node, rpc::ServerLimits limits = {});
  void set_extension(ApiExtension* extension) { extension_ = extension; }

  Result<runtime::Address, std::string> listen(const runtime::Address& address) {
    return server_.listen(address);
  }
  // Suspends until every connection and handler fiber has ended.
  void stop() { server_.stop(); }
  rpc::Server& server() { return server_; }

  rpc::Reply handle(const protocol::RequestHeader& header, protocol::RequestBody&& body) override;
  bool serves(int16_t api_key) const override;
  protocol::ResponseBody api_versions_response(const protocol::RequestHeader& header) override;

 private:
  runtime::Env& env_;
  RaftNode& node_;
  ApiExtension* extension_ = nullptr;
  rpc::Server server_;
};

}  // namespace weir::raft
