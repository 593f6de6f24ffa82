#include "rpc/connection.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <utility>
#include <vector>

#include <absl/container/btree_map.h>

#include "base/big_endian.h"
#include "protocol/header.h"
#include "rpc/framing.h"

namespace weir::rpc {

using protocol::ApiKey;
using protocol::Bytes;
using runtime::Future;
using runtime::Instant;
using runtime::Promise;

namespace {

struct Pending {
  int32_t correlation_id = 0;
  int16_t api_key = 0;
  int16_t api_version = 0;
  Promise<ResponseResult> promise;
};

struct QueuedFrame {
  Bytes frame;
  // Set for requests that get no response: resolved once written.
  std::optional<Promise<ResponseResult>> on_written;
};

}  // namespace

struct Connection::State {
  explicit State(runtime::Env e) : env(e) {}

  runtime::Env env;
  runtime::Address address;
  ConnectionOptions options;
  std::unique_ptr<runtime::Stream> stream;
  bool open = true;
  std::optional<Error> close_reason;
  int32_t next_correlation_id = 1;
  std::deque<Pending> pending;
  std::deque<QueuedFrame> queue;
  runtime::WaitQueue writer_wakeup;
  absl::btree_map<int16_t, ApiVersionRange> broker_versions;

  void fail_all(const Error& error) {
    if (!open) return;
    open = false;
    close_reason = error;
    // Take everything out first: a promise's waiters may run only later, but keeping
    // the containers consistent before any callback is the simple rule.
    std::deque<Pending> failed = std::move(pending);
    pending.clear();
    std::deque<QueuedFrame> unsent = std::move(queue);
    queue.clear();
    stream->close();
    writer_wakeup.notify_all();
    for (Pending& request : failed) request.promise.set(unexpected(error));
    for (QueuedFrame& frame : unsent) {
      if (frame.on_written) frame.on_written->set(unexpected(error));
    }
  }

  std::optional<int16_t> version(ApiKey key) const {
    auto found = broker_versions.find(static_cast<int16_t>(key));
    if (found == broker_versions.end()) return std::nullopt;
    return pick_version(key, found->second);
  }
};

std::optional<int16_t> pick_version(ApiKey key, ApiVersionRange broker) {
  const protocol::ApiInfo* info = protocol::find_api(static_cast<int16_t>(key));
  if (info == nullptr) return std::nullopt;
  const int16_t high = std::min(info->version_max, broker.max);
  const int16_t low = std::max(info->version_min, broker.min);
  if (high < low) return std::nullopt;
  return high;
}

namespace {

void writer_loop(const std::shared_ptr<Connection::State>& state) {
  Bytes coalesced;
  std::vector<Promise<ResponseResult>> written;
  while (state->open) {
    if (state->queue.empty()) {
      state->writer_wakeup.add(state->env.scheduler.prepare_wait());
      state->env.scheduler.suspend();
      continue;
    }
    // Everything queued goes out in one write: pipelined produce requests then cost
    // one system call, not one each.
    coalesced.clear();
    written.clear();
    Bytes single;
    if (state->queue.size() == 1) {
      single = std::move(state->queue.front().frame);
      if (state->queue.front().on_written) {
        written.push_back(std::move(*state->queue.front().on_written));
      }
      state->queue.pop_front();
    } else {
      while (!state->queue.empty()) {
        QueuedFrame& frame = state->queue.front();
        coalesced.insert(coalesced.end(), frame.frame.begin(), frame.frame.end());
        if (frame.on_written) written.push_back(std::move(*frame.on_written));
        state->queue.pop_front();
      }
    }
    const Bytes& bytes = single.empty() ? coalesced : single;
    auto result = state->stream->write_all(std::as_bytes(std::span(bytes)));
    if (!result) {
      Error error = Error::of(ErrorKind::disconnected,
                              fmt::format("write to {}: {}", state->address.to_string(),
                                          runtime::to_string(result.error())));
      for (auto& promise : written) promise.set(unexpected(error));
      state->fail_all(error);
      return;
    }
    for (auto& promise : written) promise.set(Response{});
  }
}

void reader_loop(const std::shared_ptr<Connection::State>& state) {
  Bytes frame;
  uint8_t size_bytes[kFrameSizeBytes];
  while (state->open) {
    auto header_read = state->stream->read_exactly(std::as_writable_bytes(std::span(size_bytes)));
    if (!header_read) {
      state->fail_all(Error::of(ErrorKind::disconnected,
                                fmt::format("read from {}: {}", state->address.to_string(),
                                            runtime::to_string(header_read.error()))));
      return;
    }
    const int32_t size = frame_size(size_bytes);
    if (size < 4 || static_cast<size_t>(size) > state->options.response_bytes_max) {
      state->fail_all(Error::of(ErrorKind::malformed_response,
                                fmt::format("response frame of {} bytes", size)));
      return;
    }
    frame.resize(static_cast<size_t>(size));
    // Buggify: a reader that stalls inside a response (the broker's writes back up and
    // the rest arrives in pieces).
    if (state->env.buggify.fire()) {
      state->env.scheduler.sleep_for(runtime::milliseconds(state->env.random.between(1, 200)));
    }
    auto body_read = state->stream->read_exactly(std::as_writable_bytes(std::span(frame)));
    if (!body_read) {
      state->fail_all(Error::of(ErrorKind::disconnected,
                                fmt::format("read from {}: {}", state->address.to_string(),
                                            runtime::to_string(body_read.error()))));
      return;
    }
    if (!state->open) return;
    const int32_t correlation_id = load_big_endian<int32_t>(frame.data());
    if (state->pending.empty() || state->pending.front().correlation_id != correlation_id) {
      state->fail_all(Error::of(ErrorKind::malformed_response,
                                fmt::format("unexpected correlation id {}", correlation_id)));
      return;
    }
    Pending request = std::move(state->pending.front());
    state->pending.pop_front();
    protocol::ResponseHeader header;
    auto decoded = protocol::decode_response(request.api_key, request.api_version, frame, header);
    if (!decoded && request.api_key == static_cast<int16_t>(ApiKey::api_versions) &&
        frame.size() >= 6 && frame[4] == 0 &&
        frame[5] == protocol::error_value(protocol::ErrorCode::unsupported_version)) {
      // A broker that does not serve our ApiVersions version answers in a form of its
      // own choosing (Kafka: v0; librdkafka's mock: something else). Only the error
      // code is certain, and it is all the handshake needs to retry at v0.
      protocol::ApiVersionsResponse unsupported;
      unsupported.error_code = protocol::error_value(protocol::ErrorCode::unsupported_version);
      request.promise.set(Response(std::make_shared<protocol::ResponseBody>(unsupported)));
      continue;
    }
    if (!decoded) {
      Error error = Error::of(ErrorKind::malformed_response,
                              fmt::format("api {} v{}: {}", request.api_key, request.api_version,
                                          protocol::decode_error_name(decoded.error())));
      request.promise.set(unexpected(error));
      state->fail_all(error);
      return;
    }
    request.promise.set(
        Response(std::make_shared<protocol::ResponseBody>(std::move(decoded).value())));
  }
}

Bytes encode_frame(const protocol::RequestHeader& header, const protocol::RequestBody& body) {
  Bytes frame;
  begin_frame(frame);
  protocol::encode_request(header, body, frame);
  finish_frame(frame);
  return frame;
}

}  // namespace

CallResult<std::unique_ptr<Connection>> Connection::connect(runtime::Env env,
                                                            const runtime::Address& address,
                                                            const ConnectionOptions& options) {
  auto stream = env.network.connect(address, options.connect_timeout);
  if (!stream) {
    return unexpected(
        Error::of(ErrorKind::connect_failed,
                  fmt::format("{}: {}", address.to_string(), runtime::to_string(stream.error()))));
  }
  auto state = std::make_shared<State>(env);
  state->address = address;
  state->options = options;
  state->stream = std::move(stream).value();
  env.scheduler.spawn("client-writer " + address.to_string(), [state] { writer_loop(state); });
  env.scheduler.spawn("client-reader " + address.to_string(), [state] { reader_loop(state); });
  std::unique_ptr<Connection> connection(new Connection(state));

  // ApiVersions v3 first (it carries the client's name); a broker that does not serve
  // it answers UNSUPPORTED_VERSION in a v0 body, and v0 is then asked.
  for (int16_t version : {int16_t{3}, int16_t{0}}) {
    protocol::ApiVersionsRequest request;
    request.client_software_name = "weir";
    request.client_software_version = "0.1.0";
    auto response = connection->send_and_wait(request, version);
    if (!response) return unexpected(response.error());
    const auto& body = std::get<protocol::ApiVersionsResponse>(**response);
    if (body.error_code == protocol::error_value(protocol::ErrorCode::unsupported_version) &&
        version != 0) {
      continue;
    }
    if (body.error_code != 0) return unexpected(Error::kafka(body.error_code, "ApiVersions"));
    for (const auto& api : body.api_keys) {
      state->broker_versions[api.api_key] = ApiVersionRange{api.min_version, api.max_version};
    }
    return connection;
  }
  return unexpected(Error::of(ErrorKind::unsupported, "ApiVersions"));
}

Connection::~Connection() { close(); }

Future<ResponseResult> Connection::send(protocol::RequestBody body, std::optional<int16_t> version,
                                        bool expect_response) {
  State& state = *state_;
  Promise<ResponseResult> promise(state.env.scheduler);
  Future<ResponseResult> future = promise.future();
  const ApiKey key = protocol::api_key_of(body);
  if (!state.open) {
    promise.set(unexpected(state.close_reason.value_or(Error::of(ErrorKind::disconnected))));
    return future;
  }
  if (!version) version = state.version(key);
  if (!version) {
    const protocol::ApiInfo* info = protocol::find_api(static_cast<int16_t>(key));
    promise.set(unexpected(
        Error::of(ErrorKind::unsupported,
                  fmt::format("{} at {}", info ? info->name : "api", state.address.to_string()))));
    return future;
  }
  protocol::RequestHeader header;
  header.api_key = static_cast<int16_t>(key);
  header.api_version = *version;
  header.correlation_id = state.next_correlation_id++;
  header.client_id = state.options.client_id;
  QueuedFrame queued{encode_frame(header, body), std::nullopt};
  if (expect_response) {
    state.pending.push_back(
        Pending{header.correlation_id, header.api_key, *version, std::move(promise)});
    // A request that outlives its deadline poisons the connection: later responses
    // would still queue behind it, so Kafka's clients close, and so does this one.
    std::weak_ptr<State> weak = state_;
    const int32_t correlation_id = header.correlation_id;
    // Buggify: a spurious timeout, long before the configured one (a request whose
    // answer was on its way: the caller cannot tell whether it took effect).
    const runtime::Duration timeout = state.env.buggify.fire()
                                          ? runtime::milliseconds(state.env.random.between(1, 100))
                                          : state.options.request_timeout;
    state.env.scheduler.schedule_at(state.env.clock.now() + timeout, [weak, correlation_id] {
      auto locked = weak.lock();
      if (!locked || !locked->open || locked->pending.empty()) return;
      if (locked->pending.front().correlation_id > correlation_id) return;
      locked->fail_all(
          Error::of(ErrorKind::timed_out,
                    fmt::format("request {} to {}", correlation_id, locked->address.to_string())));
    });
  } else {
    queued.on_written.emplace(std::move(promise));
  }
  state.queue.push_back(std::move(queued));
  state.writer_wakeup.notify_one();
  return future;
}

ResponseResult Connection::send_and_wait(protocol::RequestBody body,
                                         std::optional<int16_t> version) {
  auto future = send(std::move(body), version);
  auto result = future.get();
  if (!result) return unexpected(Error::of(ErrorKind::disconnected, "request dropped"));
  return std::move(*result);
}

std::optional<int16_t> Connection::version(ApiKey key) const { return state_->version(key); }
bool Connection::is_open() const { return state_->open; }
void Connection::close() {
  state_->fail_all(Error::of(ErrorKind::disconnected, "closed by the client"));
}
size_t Connection::pending_count() const { return state_->pending.size(); }
const runtime::Address& Connection::address() const { return state_->address; }

}  // namespace weir::rpc
