// One connection to one Kafka node (a broker or a controller), the calling end of the
// framing that rpc::Server serves: connect with a timeout, the ApiVersions handshake,
// and pipelined requests. Every node-to-node call (Raft peers, a broker's link to the
// controllers, replica fetchers) and weir's own client use it.
//
// A writer fiber sends queued frames in the order send() queued them (coalescing
// whatever is queued into one write); a reader fiber reads responses, which Kafka
// returns in request order, and matches each to the oldest pending request by its
// correlation id.
//
// Invariants:
//  - Pending requests are in correlation-id order; a response whose id is not the
//    oldest pending one, or whose bytes do not decode, is a protocol violation: the
//    connection closes and every pending request fails (malformed_response), never a
//    crash.
//  - On close, reset or a request passing its deadline, every pending request fails
//    (disconnected or timed_out) and the connection stays closed; callers open a new
//    one. A request is never answered twice.
//  - Fibers hold the shared state alive, so destroying a Connection with requests in
//    flight is safe: it closes the stream, which ends both fibers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "rpc/errors.h"
#include "protocol/messages/api.h"
#include "runtime/env.h"
#include "runtime/network.h"
#include "runtime/sync.h"

namespace weir::rpc {

struct ConnectionOptions {
  std::string client_id = "weir";
  runtime::Duration connect_timeout = runtime::seconds(10);
  runtime::Duration request_timeout = runtime::seconds(30);
  // A response frame larger than this is treated as malformed.
  size_t response_bytes_max = size_t{512} << 20;
};

// Responses are shared, not copied: a Fetch response may hold megabytes of records.
using Response = std::shared_ptr<const protocol::ResponseBody>;
using ResponseResult = CallResult<Response>;

// The version range both sides serve for each api (highest first choice).
struct ApiVersionRange {
  int16_t min = 0;
  int16_t max = -1;
};

// The version to use for `key`: the highest both sides support, or nullopt. Pure;
// exposed for tests.
std::optional<int16_t> pick_version(protocol::ApiKey key, ApiVersionRange broker);

class Connection {
 public:
  // Connects and runs the ApiVersions handshake. May suspend.
  static CallResult<std::unique_ptr<Connection>> connect(runtime::Env env,
                                                           const runtime::Address& address,
                                                           const ConnectionOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Queues a request at the negotiated version (or `version` when given) without
  // suspending. The future resolves with the response or an error. With
  // `expect_response` false (Produce with acks=0) it resolves with a null Response
  // once the frame is written, as the broker sends nothing back.
  runtime::Future<ResponseResult> send(protocol::RequestBody body,
                                       std::optional<int16_t> version = std::nullopt,
                                       bool expect_response = true);
  // send() and wait for the answer. May suspend.
  ResponseResult send_and_wait(protocol::RequestBody body,
                               std::optional<int16_t> version = std::nullopt);

  // The negotiated version of `key`, nullopt when no version is common to both sides.
  std::optional<int16_t> version(protocol::ApiKey key) const;
  bool is_open() const;
  // Fails every pending request with `disconnected`; idempotent, never suspends.
  void close();
  size_t pending_count() const;
  const runtime::Address& address() const;

  struct State;

 private:
  explicit Connection(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace weir::rpc
