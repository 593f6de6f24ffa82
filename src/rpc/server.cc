#include "rpc/server.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "protocol/errors.h"
#include "protocol/messages/api.h"
#include "rpc/framing.h"

namespace weir::rpc {

using protocol::ApiKey;
using protocol::ErrorCode;

// One client connection: see server.h for its two fibers.
class Server::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server& server, std::unique_ptr<runtime::Stream> stream)
      : server_(server), stream_(std::move(stream)),
        pending_(server.env_.scheduler, server.limits_.in_flight_per_connection_max) {}

  void start() {
    auto self = shared_from_this();
    server_.spawn("conn-writer", [self] { self->write_loop(); });
    server_.spawn("conn-reader", [self] { self->read_loop(); });
  }
  void close() {
    stream_->close();
    pending_.close();
  }

 private:
  struct Pending {
    int32_t correlation_id;
    int16_t api_version;
    Reply reply;
  };

  void read_loop() {
    std::vector<uint8_t> frame;
    while (true) {
      std::array<uint8_t, kFrameSizeBytes> size_bytes;
      if (!stream_->read_exactly(std::as_writable_bytes(std::span(size_bytes)))) break;
      const int32_t size = frame_size(size_bytes.data());
      // Kafka closes a connection whose frame is negative or above
      // socket.request.max.bytes, without reading it.
      if (size < 4 || size > server_.limits_.request_bytes_max) break;
      frame.resize(static_cast<size_t>(size));
      // Buggify: a reader that stalls inside a frame. The sender's writes back up (its
      // write_all waits on a full window) and the body then arrives in pieces.
      if (server_.env_.buggify.fire()) {
        server_.env_.scheduler.sleep_for(
            runtime::milliseconds(server_.env_.random.between(1, 200)));
      }
      if (!stream_->read_exactly(std::as_writable_bytes(std::span(frame)))) break;
      if (!dispatch(frame)) break;
    }
    pending_.close();
  }

  // Decodes and handles one request; false closes the connection.
  bool dispatch(std::span<const uint8_t> frame) {
    auto request = protocol::decode_request(frame);
    if (!request) {
      // An ApiVersions request newer than weir knows gets a v0 answer with
      // UNSUPPORTED_VERSION and the api list, so the client can retry with one we
      // serve (KIP-511). Anything else weir cannot parse closes the connection, as
      // Kafka does.
      auto key = protocol::peek_api_key_and_version(frame);
      size_t body_offset = 0;
      auto header = protocol::decode_request_header(frame, body_offset);
      if (key && header && key->api_key == static_cast<int16_t>(ApiKey::api_versions) &&
          request.error() == protocol::DecodeError::unsupported_version) {
        auto body = server_.handler_.api_versions_response(*header);
        auto* versions = std::get_if<protocol::ApiVersionsResponse>(&body);
        VERIFY(versions != nullptr, "api_versions_response() answered another api");
        versions->error_code = protocol::error_value(ErrorCode::unsupported_version);
        return pending_.send(Pending{header->correlation_id, 0, Reply{std::move(body), {}}});
      }
      server_.log_refused(stream_->peer(), frame, request.error());
      return false;
    }
    if (!server_.handler_.serves(request->header.api_key)) {
      server_.log_refused(stream_->peer(), frame, std::nullopt);
      return false;
    }
    const int32_t correlation_id = request->header.correlation_id;
    const int16_t version = request->header.api_version;
    Reply reply = server_.handler_.handle(request->header, std::move(request->body));
    if (!reply.now && !reply.later) return true;
    return pending_.send(Pending{correlation_id, version, std::move(reply)});
  }

  void write_loop() {
    protocol::Bytes out;
    while (auto pending = pending_.receive()) {
      std::optional<protocol::ResponseBody> body = std::move(pending->reply.now);
      if (!body && pending->reply.later) body = pending->reply.later->get();
      if (!body) break;  // the handler's fiber died (shutdown): nothing to send
      begin_frame(out);
      protocol::encode_response(pending->correlation_id, pending->api_version, *body, out);
      finish_frame(out);
      if (!stream_->write_all(std::as_bytes(std::span(out)))) break;
    }
    // Ends the reader too (its read fails) and drops what it still queues.
    close();
    auto& connections = server_.connections_;
    connections.erase(std::remove(connections.begin(), connections.end(), shared_from_this()),
                      connections.end());
  }

  Server& server_;
  std::unique_ptr<runtime::Stream> stream_;
  runtime::Channel<Pending> pending_;
};

namespace {

// A client id fit for a log line: cut short, and with anything but printable ASCII
// replaced, so that a client cannot forge lines or flood one.
std::string printable_client_id(std::string_view client_id) {
  std::string out(client_id.substr(0, RefusalLog::client_id_bytes_max));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return out;
}

}  // namespace

bool RefusalLog::first(const std::string& host, std::string_view client_id, int16_t api_key,
                       int16_t api_version) {
  Key key{host, std::string(client_id.substr(0, client_id_bytes_max)), api_key, api_version};
  if (seen_.contains(key)) return false;
  if (seen_.size() == entries_max) {
    VERIFY(!oldest_first_.empty());
    seen_.erase(oldest_first_.front());
    oldest_first_.pop_front();
  }
  seen_.insert(key);
  oldest_first_.push_back(std::move(key));
  VERIFY(seen_.size() == oldest_first_.size());
  VERIFY(seen_.size() <= entries_max);
  return true;
}

Server::Server(runtime::Env& env, RequestHandler& handler, ServerLimits limits)
    : env_(env), handler_(handler), limits_(limits), stop_requested_(env.scheduler),
      stopped_(env.scheduler) {
  // socket.request.max.bytes may be as low as 1 (then every request closes its
  // connection, as in Kafka); only a non-positive limit is a programmer error.
  VERIFY(limits_.request_bytes_max > 0);
  VERIFY(limits_.in_flight_per_connection_max > 0);
}

Server::~Server() { VERIFY(active_fibers_ == 0, "the server's fibers outlive it"); }

void Server::spawn(std::string name, std::function<void()> body) {
  // A fiber spawned after stop() finished would outlive what stop() promised.
  VERIFY(!stopped_.is_set(), "spawn({}) after the server stopped", name);
  active_fibers_++;
  env_.scheduler.spawn(std::move(name), [this, body = std::move(body)] {
    struct Done {
      Server* server;
      ~Done() {
        VERIFY(server->active_fibers_ > 0);
        if (--server->active_fibers_ == 0) server->fibers_done_.notify_all();
      }
    } done{this};
    body();
  });
}

Result<runtime::Address, std::string> Server::listen(const runtime::Address& address) {
  VERIFY(!stopping_, "listen() on a stopping server");
  auto listener = env_.network.listen(address);
  if (!listener) {
    return unexpected(fmt::format("cannot listen on {}: {}", address.to_string(),
                                  runtime::to_string(listener.error())));
  }
  listeners_.push_back(std::move(*listener));
  runtime::Listener* raw = listeners_.back().get();
  spawn("accept", [this, raw] { accept_loop(*raw); });
  return raw->local_address();
}

runtime::Address Server::bound_address(size_t index) const {
  VERIFY(index < listeners_.size(), "no listener {} of {}", index, listeners_.size());
  return listeners_[index]->local_address();
}

void Server::log_refused(const runtime::Address& peer, std::span<const uint8_t> frame,
                         std::optional<protocol::DecodeError> decode_error) {
  const auto key = protocol::peek_api_key_and_version(frame);
  size_t body_offset = 0;
  const auto header = protocol::decode_request_header(frame, body_offset);
  const std::optional<std::string> client_id =
      header && header->client_id ? std::optional(*header->client_id) : std::nullopt;
  const int16_t api_key = key ? key->api_key : -1;
  const int16_t api_version = key ? key->api_version : -1;
  if (!refusals_.first(peer.host, client_id.value_or(""), api_key, api_version)) return;

  const protocol::ApiInfo* api = key ? protocol::find_api(api_key) : nullptr;
  std::string why;
  if (!key) {
    why = fmt::format("a request of {} bytes is too short for a header", frame.size());
  } else if (api == nullptr) {
    why = fmt::format("api key {} (v{}) is not one weir implements", api_key, api_version);
  } else if (!decode_error) {
    why = fmt::format("{} is not served on this listener", api->name);
  } else if (*decode_error == protocol::DecodeError::unsupported_version) {
    why = fmt::format("{} v{} is not supported (weir serves v{} to v{})", api->name, api_version,
                      api->version_min, api->version_max);
  } else {
    why = fmt::format("{} v{} did not decode ({})", api->name, api_version,
                      protocol::decode_error_name(*decode_error));
  }
  const std::string who = client_id ? fmt::format("client id '{}'", printable_client_id(*client_id))
                                    : std::string("no client id");
  env_.log.write(fmt::format("closed the connection from {} ({}): {}", peer.to_string(), who, why));
}

void Server::accept_loop(runtime::Listener& listener) {
  // A failed accept pauses the loop before the next, growing the pause while failures
  // last: out of descriptors, an accept fails at once and the connection stays queued,
  // so retrying without a pause would spin. The pause ends early when the server stops.
  runtime::Duration backoff = accept_backoff_min;
  // An episode is a run of failed accepts. A node at its descriptor limit flaps (each
  // descriptor freed is taken by the next queued connection), so episodes are reported
  // at most once per accept_report_interval: one that starts sooner is counted into the
  // next report, made as soon as the interval has passed if it still lasts.
  struct Episode {
    bool active = false;
    runtime::Instant since;
    uint64_t failures = 0;
    bool reported = false;
  };
  // Not a std::optional: gcc 12 takes its reads for uninitialized ones (-Werror).
  Episode failing;
  std::optional<runtime::Instant> last_report;
  uint64_t unreported_episodes = 0;
  const std::string where = listener.local_address().to_string();
  while (!stopping_) {
    auto stream = listener.accept();
    const runtime::Instant now = env_.scheduler.now();
    if (!stream) {
      if (stopping_ || stream.error() == runtime::IoError::closed) return;
      // A connection reset while queued costs only that connection.
      if (stream.error() == runtime::IoError::reset) continue;
      if (!failing.active) failing = Episode{.active = true, .since = now};
      failing.failures++;
      if (!failing.reported && (!last_report || now - *last_report >= accept_report_interval)) {
        const std::string earlier =
            unreported_episodes == 0
                ? std::string()
                : fmt::format("; {} shorter episodes since the last report", unreported_episodes);
        env_.log.write(fmt::format(
            "cannot accept connections on {}: {}; shedding new connections until it clears "
            "({} open{})",
            where, runtime::to_string(stream.error()), connections_.size(), earlier));
        failing.reported = true;
        last_report = now;
        unreported_episodes = 0;
      }
      stop_requested_.wait_until(now + backoff);
      backoff = std::min(backoff * 2, accept_backoff_max);
      continue;
    }
    if (failing.active) {
      if (failing.reported) {
        env_.log.write(
            fmt::format("accepting connections on {} again, after {} ms and {} failed "
                        "accepts",
                        where, (now - failing.since).count() / 1'000'000, failing.failures));
      } else {
        unreported_episodes++;
      }
      failing = Episode{};
      backoff = accept_backoff_min;
    }
    auto connection = std::make_shared<Connection>(*this, std::move(*stream));
    connections_.push_back(connection);
    connection->start();
  }
}

void Server::serve() { stopped_.wait(); }

void Server::stop() {
  if (stopping_) {
    stopped_.wait();
    return;
  }
  stopping_ = true;
  stop_requested_.set();
  for (auto& listener : listeners_) listener->close();
  // A copy: each connection's writer removes it from connections_ as it ends.
  std::vector<std::shared_ptr<Connection>> connections = connections_;
  for (auto& connection : connections) connection->close();
  // Handler fibers finish on their own (their waits are bounded).
  while (active_fibers_ > 0) {
    fibers_done_.add(env_.scheduler.prepare_wait());
    env_.scheduler.suspend(std::nullopt);
  }
  VERIFY(active_fibers_ == 0);
  stopped_.set();
}

}  // namespace weir::rpc
