// Server: the Kafka request server shared by the broker's client listeners and the
// controller quorum's listener. It owns listeners, connections and the framing; what a
// request means is the RequestHandler's business.
//
// Fibers: one accept loop per listener; per connection a reader (reads each frame,
// decodes it and runs the handler's ordered part, so a connection's requests are
// handled in the order sent) and a writer (sends responses in request order, waiting
// for each one's completion: an fsync, a Fetch long poll). Handlers run their own
// waiting parts in fibers from spawn(), which stop() waits for like the others.
//
// Invariants: a connection's responses leave in its requests' order; at most
// `in_flight_per_connection_max` responses are outstanding per connection (then the
// reader stops reading and TCP pushes back); stop() returns only after every fiber
// the server spawned has ended.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "protocol/header.h"
#include "runtime/env.h"
#include "runtime/sync.h"

namespace weir::rpc {

// What a handler gives back: a response now, one later (a fiber of the handler fulfils
// the future), or none at all (Produce with acks=0, as Kafka does).
struct Reply {
  std::optional<protocol::ResponseBody> now;
  std::optional<runtime::Future<protocol::ResponseBody>> later;
  static Reply none() { return {}; }
};

// The set of APIs a listener answers and what they do.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // Handles one decoded request of an api that serves() accepts. May suspend: this is
  // the request's ordered part, run in the connection's request order.
  virtual Reply handle(const protocol::RequestHeader& header, protocol::RequestBody&& body) = 0;
  // Whether this handler answers the api; a request for any other closes the
  // connection, as Kafka does.
  virtual bool serves(int16_t api_key) const = 0;
  // The ApiVersions response (an ApiVersionsResponse) for a request newer than weir
  // knows: the server sends it as v0 with UNSUPPORTED_VERSION (KIP-511). Must not
  // suspend.
  virtual protocol::ResponseBody api_versions_response(const protocol::RequestHeader& header) = 0;
};

struct ServerLimits {
  // socket.request.max.bytes: a frame above this closes the connection unread.
  int32_t request_bytes_max = 104857600;
  // Responses a connection may have in flight before its reader stops reading: a
  // client pipelining more than this waits for TCP back-pressure.
  size_t in_flight_per_connection_max = 64;
};

class Server {
 public:
  // `handler` must outlive the server.
  Server(runtime::Env& env, RequestHandler& handler, ServerLimits limits);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds `address` and starts accepting on it; may be called once per listener.
  // Returns the bound address (the real port when `address` has port 0), or what failed.
  Result<runtime::Address, std::string> listen(const runtime::Address& address);
  // Suspends until stop() is called (by another fiber) and has finished.
  void serve();
  // Suspends. Stops accepting, closes every connection and waits for every fiber the
  // server spawned (accept loops, connections, and the handler's from spawn()).
  // Calling it again waits for the first call to finish.
  void stop();
  // Spawns a fiber that stop() waits for. It must end on its own once stopping() is
  // true (its waits bounded, or ended by the connections closing).
  void spawn(std::string name, std::function<void()> body);

  bool stopping() const { return stopping_; }
  size_t listener_count() const { return listeners_.size(); }
  // Where listener `index` (in listen() order) is bound.
  runtime::Address bound_address(size_t index) const;

 private:
  class Connection;
  friend class Connection;

  void accept_loop(runtime::Listener& listener);

  runtime::Env& env_;
  RequestHandler& handler_;
  ServerLimits limits_;
  std::vector<std::unique_ptr<runtime::Listener>> listeners_;
  std::vector<std::shared_ptr<Connection>> connections_;
  bool stopping_ = false;
  runtime::Event stopped_;
  int64_t active_fibers_ = 0;
  runtime::WaitQueue fibers_done_;
};

}  // namespace weir::rpc
