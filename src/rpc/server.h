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
//
// Failures an operator must see go to Env::log, bounded: a request refused by closing
// its connection once per (client host, client id, api, version); a listener that
// cannot accept (out of file descriptors) once per episode, when it starts and ends,
// and at most once per accept_report_interval.
// An accept loop never retries a failed accept without pausing: out of descriptors,
// the pending connection stays queued and the listener stays readable, so an
// immediate retry would spin and starve every other fiber.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <absl/container/btree_set.h>

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

// How long an accept loop pauses after a failed accept: the first pause, doubled after
// each failure in a row up to the last.
inline constexpr runtime::Duration accept_backoff_min = runtime::milliseconds(100);
inline constexpr runtime::Duration accept_backoff_max = runtime::seconds(1);
static_assert(accept_backoff_min > runtime::Duration::zero());
static_assert(accept_backoff_min <= accept_backoff_max);
// Failing accepts are logged at most once per this interval per listener (the start
// of an episode, and its end if its start was logged).
inline constexpr runtime::Duration accept_report_interval = runtime::seconds(10);
static_assert(accept_report_interval > accept_backoff_max);

// The refused requests already logged, so that each (client host, client id, api,
// version) is logged once. Bounded: beyond `entries_max` the oldest is forgotten (and
// would be logged again), so a client cycling through ids cannot grow it.
class RefusalLog {
 public:
  static constexpr size_t entries_max = 1024;
  // Client ids are cut to this many bytes in the key and in the line.
  static constexpr size_t client_id_bytes_max = 100;

  // True the first time (host, client_id, api_key, api_version) is seen while
  // remembered; records it.
  bool first(const std::string& host, std::string_view client_id, int16_t api_key,
             int16_t api_version);
  size_t size() const { return seen_.size(); }

 private:
  using Key = std::tuple<std::string, std::string, int16_t, int16_t>;
  absl::btree_set<Key> seen_;
  std::deque<Key> oldest_first_;
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
  // Logs a request refused by closing its connection, once per client and version:
  // `decode_error` says why it did not decode; none means it did, for an api this
  // listener does not serve.
  void log_refused(const runtime::Address& peer, std::span<const uint8_t> frame,
                   std::optional<protocol::DecodeError> decode_error);

  runtime::Env& env_;
  RequestHandler& handler_;
  ServerLimits limits_;
  std::vector<std::unique_ptr<runtime::Listener>> listeners_;
  std::vector<std::shared_ptr<Connection>> connections_;
  bool stopping_ = false;
  // Set with stopping_: ends an accept loop's pause at once.
  runtime::Event stop_requested_;
  runtime::Event stopped_;
  RefusalLog refusals_;
  int64_t active_fibers_ = 0;
  runtime::WaitQueue fibers_done_;
};

}  // namespace weir::rpc
