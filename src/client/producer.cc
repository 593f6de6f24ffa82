#include "client/producer.h"

#include <algorithm>
#include <charconv>
#include <deque>

#include <absl/container/btree_set.h>

#include "client/murmur2.h"

namespace weir::client {

using protocol::ErrorCode;
using runtime::Instant;
using runtime::milliseconds;

namespace {

std::optional<int64_t> parse_integer(std::string_view text) {
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<record::Compression> parse_compression(std::string_view text) {
  if (text == "none") return record::Compression::none;
  if (text == "gzip") return record::Compression::gzip;
  if (text == "snappy") return record::Compression::snappy;
  if (text == "lz4") return record::Compression::lz4;
  if (text == "zstd") return record::Compression::zstd;
  return std::nullopt;
}

}  // namespace

std::optional<std::string> apply_producer_property(ProducerConfig& config, std::string_view key,
                                                   std::string_view value) {
  auto bad = [&] { return fmt::format("invalid value '{}' for {}", value, key); };
  if (key == "compression.type") {
    auto codec = parse_compression(value);
    if (!codec) return bad();
    config.compression = *codec;
    return std::nullopt;
  }
  if (key == "enable.idempotence") {
    if (value != "true" && value != "false") return bad();
    config.idempotence = value == "true";
    return std::nullopt;
  }
  if (key == "acks") {
    if (value == "all" || value == "-1") {
      config.acks = -1;
    } else if (value == "0" || value == "1") {
      config.acks = static_cast<int16_t>(value[0] - '0');
      config.idempotence = false;
    } else {
      return bad();
    }
    return std::nullopt;
  }
  auto number = parse_integer(value);
  if (!number || *number < 0) {
    static constexpr std::string_view known[] = {"linger.ms",
                                                 "batch.size",
                                                 "retries",
                                                 "retry.backoff.ms",
                                                 "delivery.timeout.ms",
                                                 "request.timeout.ms",
                                                 "max.in.flight.requests.per.connection",
                                                 "buffer.memory",
                                                 "max.block.ms",
                                                 "max.request.size"};
    if (std::find(std::begin(known), std::end(known), key) == std::end(known)) {
      return fmt::format("unknown producer property {}", key);
    }
    return bad();
  }
  const int64_t n = *number;
  if (key == "linger.ms") {
    config.linger = milliseconds(n);
  } else if (key == "batch.size") {
    config.batch_bytes = static_cast<size_t>(std::max<int64_t>(n, 1));
  } else if (key == "retries") {
    config.retries = static_cast<int32_t>(std::min<int64_t>(n, INT32_MAX));
  } else if (key == "retry.backoff.ms") {
    config.retry_backoff = milliseconds(n);
  } else if (key == "delivery.timeout.ms") {
    config.delivery_timeout = milliseconds(n);
  } else if (key == "request.timeout.ms") {
    config.request_timeout = milliseconds(n);
  } else if (key == "max.in.flight.requests.per.connection") {
    if (n < 1) return bad();
    config.max_in_flight = static_cast<int32_t>(std::min<int64_t>(n, 1000));
  } else if (key == "buffer.memory") {
    config.buffer_bytes = static_cast<size_t>(n);
  } else if (key == "max.block.ms") {
    config.max_block = milliseconds(n);
  } else if (key == "max.request.size") {
    config.request_bytes_max = static_cast<size_t>(n);
  } else {
    return fmt::format("unknown producer property {}", key);
  }
  return std::nullopt;
}

std::optional<std::string> validate_producer_config(const ProducerConfig& config) {
  if (config.idempotence && config.acks != -1) {
    return std::string("enable.idempotence=true needs acks=all");
  }
  if (config.idempotence && config.max_in_flight > 5) {
    return std::string("enable.idempotence=true needs max.in.flight.requests.per.connection <= 5");
  }
  return std::nullopt;
}

namespace {

struct Completion {
  std::optional<runtime::Promise<DeliveryResult>> promise;
  DeliveryCallback callback;
  int64_t timestamp = 0;
};

struct Batch {
  TopicPartition partition;
  std::optional<BatchBuilder> builder;  // until first sent
  record::Bytes bytes;                  // once finished
  std::vector<Completion> completions;
  size_t buffered_bytes = 0;
  Instant deadline;  // delivery.timeout.ms from creation
  Instant retry_at;
  int32_t attempts = 0;
  std::optional<record::Sequence> base_sequence;
};

struct PartitionState {
  std::unique_ptr<Batch> open;
  Instant open_since;
  std::deque<std::unique_ptr<Batch>> ready;
  int32_t in_flight = 0;
  // Set by a retriable failure: hold sending until in_flight drains (idempotence).
  bool hold = false;
  int32_t next_sequence = 0;
};

void complete_batch(Batch& batch, const DeliveryResult& first) {
  for (size_t i = 0; i < batch.completions.size(); i++) {
    Completion& completion = batch.completions[i];
    DeliveryResult result = first;
    if (result.ok()) {
      if (result->offset.value() >= 0) result->offset = result->offset + static_cast<int64_t>(i);
      result->timestamp = completion.timestamp;
    }
    if (completion.promise) completion.promise->set(result);
    if (completion.callback) completion.callback(result);
  }
  batch.completions.clear();
}

}  // namespace

struct Producer::State : std::enable_shared_from_this<Producer::State> {
  State(Cluster& c, ProducerConfig conf)
      : cluster(c), env(c.env()), config(std::move(conf)), random(env.random.fork()) {}

  Cluster& cluster;
  runtime::Env env;
  ProducerConfig config;
  runtime::Random random;
  absl::btree_map<TopicPartition, PartitionState> partitions;
  absl::btree_map<std::string, int32_t> sticky;
  absl::btree_map<int32_t, int32_t> in_flight_per_node;
  absl::btree_set<runtime::FiberId> fibers;
  size_t buffered_bytes = 0;
  Instant last_metadata_attempt;
  int64_t unfinished_batches = 0;  // open, ready or in flight
  int32_t flushing = 0;
  bool closed = false;
  bool sender_running = false;
  std::optional<record::ProducerId> producer_id;
  record::ProducerEpoch producer_epoch{-1};
  // A batch that had sequence numbers failed for good: the partition's sequence has a
  // gap the broker will never accept (OUT_OF_ORDER_SEQUENCE forever). Once nothing is
  // in flight, the producer takes a new producer id and starts every sequence at 0.
  bool sequence_reset_pending = false;
  runtime::WaitQueue sender_wakeup;
  runtime::WaitQueue space_freed;
  runtime::WaitQueue all_done;

  void wake_sender() { sender_wakeup.notify_all(); }

  void seal(const TopicPartition& tp, PartitionState& state) {
    if (!state.open) return;
    state.ready.push_back(std::move(state.open));
    // The sticky partition moves on when its batch is sealed (KIP-480).
    auto sticky_it = sticky.find(tp.topic);
    if (sticky_it != sticky.end() && sticky_it->second == tp.partition) sticky.erase(sticky_it);
    wake_sender();
  }

  void finish_batch(Batch& batch, std::optional<Error> error, record::Offset base_offset) {
    if (error) {
      if (batch.base_sequence) sequence_reset_pending = true;
      complete_batch(batch, unexpected(*error));
    } else {
      complete_batch(batch, RecordMetadata{batch.partition, base_offset, -1});
    }
    VERIFY(buffered_bytes >= batch.buffered_bytes);
    buffered_bytes -= batch.buffered_bytes;
    unfinished_batches--;
    VERIFY(unfinished_batches >= 0);
    space_freed.notify_all();
    if (unfinished_batches == 0) all_done.notify_all();
  }

  int32_t choose_partition(const std::string& topic, int32_t partition_count,
                           std::optional<std::span<const uint8_t>> key) {
    if (key) return murmur2_partition(*key, partition_count);
    auto found = sticky.find(topic);
    if (found != sticky.end() && found->second < partition_count) return found->second;
    const int32_t chosen =
        static_cast<int32_t>(random.below(static_cast<uint64_t>(partition_count)));
    sticky[topic] = chosen;
    return chosen;
  }

  void append(const std::string& topic, std::optional<int32_t> partition,
              std::optional<std::span<const uint8_t>> key,
              std::optional<std::span<const uint8_t>> value, std::span<const RecordHeader> headers,
              Completion completion);

  void sender_loop();
  void reset_sequences();
  void send_batches(int32_t node, std::vector<std::unique_ptr<Batch>> batches);
  void handle_failure(std::unique_ptr<Batch> batch, const Error& error);
  void fail_everything(const Error& error);
};

void Producer::State::append(const std::string& topic, std::optional<int32_t> partition,
                             std::optional<std::span<const uint8_t>> key,
                             std::optional<std::span<const uint8_t>> value,
                             std::span<const RecordHeader> headers, Completion completion) {
  auto fail = [&](const Error& error) {
    if (completion.promise) completion.promise->set(unexpected(error));
    if (completion.callback) completion.callback(unexpected(error));
  };
  if (closed) return fail(Error::of(ErrorKind::closed, "producer closed"));
  const Instant deadline = env.clock.now() + config.max_block;
  auto info = cluster.topic_wait(topic, deadline);
  if (!info) return fail(info.error());
  const int32_t partition_count = static_cast<int32_t>((*info)->partitions.size());
  if (partition && (*partition < 0 || *partition >= partition_count)) {
    return fail(Error::of(
        ErrorKind::invalid_argument,
        fmt::format("partition {} of {} ({} partitions)", *partition, topic, partition_count)));
  }
  const size_t record_bytes =
      BatchBuilder::record_size(0, 0, key, value, headers) + 16;  // deltas may grow
  while (buffered_bytes + record_bytes > config.buffer_bytes && buffered_bytes > 0) {
    if (env.clock.now() >= deadline) {
      return fail(Error::of(ErrorKind::timed_out, "buffer.memory full for max.block.ms"));
    }
    wake_sender();
    space_freed.add(env.scheduler.prepare_wait());
    env.scheduler.suspend(deadline);
    if (closed) return fail(Error::of(ErrorKind::closed, "producer closed"));
  }
  TopicPartition tp{topic, partition ? *partition : choose_partition(topic, partition_count, key)};
  PartitionState& state = partitions[tp];
  completion.timestamp = env.clock.wall_now().milliseconds;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (!state.open) {
      state.open = std::make_unique<Batch>();
      state.open->partition = tp;
      state.open->builder.emplace(config.compression,
                                  std::min(config.batch_bytes, record_bytes * 2) + 128);
      state.open->deadline = env.clock.now() + config.delivery_timeout;
      state.open_since = env.clock.now();
      unfinished_batches++;
      wake_sender();  // to arm the linger timer
    }
    Batch& batch = *state.open;
    const size_t before = batch.builder->size_bytes();
    if (batch.builder->try_append(completion.timestamp, key, value, headers, config.batch_bytes)) {
      const size_t added = batch.builder->size_bytes() - before;
      batch.buffered_bytes += added;
      buffered_bytes += added;
      batch.completions.push_back(std::move(completion));
      if (batch.builder->size_bytes() >= config.batch_bytes) seal(tp, state);
      return;
    }
    seal(tp, state);
  }
  VERIFY(false, "a fresh batch takes any record");
}

void Producer::State::fail_everything(const Error& error) {
  for (auto& [tp, state] : partitions) {
    if (state.open) {
      finish_batch(*state.open, error, record::Offset{-1});
      state.open.reset();
    }
    while (!state.ready.empty()) {
      finish_batch(*state.ready.front(), error, record::Offset{-1});
      state.ready.pop_front();
    }
  }
}

void Producer::State::handle_failure(std::unique_ptr<Batch> batch, const Error& error) {
  PartitionState& state = partitions[batch->partition];
  const Instant now = env.clock.now();
  bool retriable = error.retriable() && batch->attempts <= config.retries && now < batch->deadline;
  // With idempotence, an out-of-order sequence after a failed predecessor heals when
  // the predecessor is resent; it is retried like a transient error.
  if (config.idempotence && error.kind == ErrorKind::kafka &&
      error.code == ErrorCode::out_of_order_sequence_number && now < batch->deadline) {
    retriable = true;
  }
  if (!retriable) {
    finish_batch(*batch, error, record::Offset{-1});
    return;
  }
  if (error.needs_metadata_refresh()) cluster.invalidate();
  batch->retry_at = now + config.retry_backoff;
  if (config.idempotence) state.hold = true;
  // Put it back in sequence order ahead of every batch not yet sent.
  auto position = state.ready.begin();
  while (position != state.ready.end() && (*position)->base_sequence && batch->base_sequence &&
         *(*position)->base_sequence < *batch->base_sequence) {
    ++position;
  }
  state.ready.insert(position, std::move(batch));
}

void Producer::State::send_batches(int32_t node, std::vector<std::unique_ptr<Batch>> batches) {
  protocol::ProduceRequest request;
  request.acks = config.acks;
  request.timeout_ms = static_cast<int32_t>(
      std::chrono::duration_cast<milliseconds>(config.request_timeout).count());
  for (auto& batch : batches) {
    if (request.topic_data.empty() || request.topic_data.back().name != batch->partition.topic) {
      request.topic_data.emplace_back();
      request.topic_data.back().name = batch->partition.topic;
    }
    protocol::ProduceRequest::PartitionProduceData data;
    data.index = batch->partition.partition;
    // The copy keeps the batch's bytes for a retry.
    data.records = batch->bytes;
    request.topic_data.back().partition_data.push_back(std::move(data));
  }
  auto connection = cluster.connection_wait(node);
  runtime::Future<ResponseResult> future = [&] {
    if (!connection) {
      runtime::Promise<ResponseResult> failed(env.scheduler);
      failed.set(unexpected(connection.error()));
      return failed.future();
    }
    return (*connection)->send(std::move(request), std::nullopt, config.acks != 0);
  }();
  auto response = future.get();
  in_flight_per_node[node]--;
  for (auto& batch : batches) partitions[batch->partition].in_flight--;
  wake_sender();
  if (!response || !response->ok()) {
    Error error = response ? response->error() : Error::of(ErrorKind::disconnected);
    for (auto& batch : batches) handle_failure(std::move(batch), error);
    return;
  }
  if (config.acks == 0) {
    for (auto& batch : batches) finish_batch(*batch, std::nullopt, record::Offset{-1});
    return;
  }
  const auto& body = std::get<protocol::ProduceResponse>(***response);
  for (auto& batch : batches) {
    const protocol::ProduceResponse::PartitionProduceResponse* answer = nullptr;
    for (const auto& topic : body.responses) {
      if (topic.name != batch->partition.topic) continue;
      for (const auto& partition : topic.partition_responses) {
        if (partition.index == batch->partition.partition) answer = &partition;
      }
    }
    if (answer == nullptr) {
      handle_failure(std::move(batch),
                     Error::of(ErrorKind::malformed_response, "partition missing in response"));
      continue;
    }
    if (answer->error_code == 0 ||
        answer->error_code == protocol::error_value(ErrorCode::duplicate_sequence_number)) {
      finish_batch(*batch, std::nullopt, record::Offset{answer->base_offset});
      continue;
    }
    handle_failure(std::move(batch),
                   Error::kafka(answer->error_code, answer->error_message.value_or("")));
  }
}

void Producer::State::reset_sequences() {
  // Batches sent under the old id may be in the log already; stamping them with the
  // new id would let a retry append them twice. Their outcome stays unknown: fail them.
  for (auto& [tp, state] : partitions) {
    for (auto it = state.ready.begin(); it != state.ready.end();) {
      if (!(*it)->base_sequence) {
        ++it;
        continue;
      }
      finish_batch(**it,
                   Error::of(ErrorKind::timed_out,
                             "an earlier batch failed for good, so the producer took a new "
                             "producer id; this batch's outcome is unknown"),
                   record::Offset{-1});
      it = state.ready.erase(it);
    }
    state.next_sequence = 0;
    state.hold = false;
  }
  producer_id.reset();
  producer_epoch = record::ProducerEpoch{-1};
  sequence_reset_pending = false;
}

void Producer::State::sender_loop() {
  while (true) {
    const Instant now = env.clock.now();
    if (closed && unfinished_batches == 0) return;
    if (config.idempotence && sequence_reset_pending) {
      int32_t in_flight = 0;
      for (const auto& [node, count] : in_flight_per_node) in_flight += count;
      if (in_flight > 0) {
        // Wait for the answers: each may still settle a batch.
        sender_wakeup.add(env.scheduler.prepare_wait());
        env.scheduler.suspend(std::nullopt);
        continue;
      }
      reset_sequences();
    }
    if (config.idempotence && !producer_id) {
      auto connection = cluster.any_connection_wait();
      std::optional<Error> error;
      if (connection) {
        protocol::InitProducerIdRequest request;
        request.transactional_id = std::nullopt;
        request.transaction_timeout_ms = -1;
        auto response = (*connection)->send_and_wait(request);
        if (response) {
          const auto& body = std::get<protocol::InitProducerIdResponse>(**response);
          if (body.error_code == 0) {
            producer_id = record::ProducerId{body.producer_id};
            producer_epoch = record::ProducerEpoch{body.producer_epoch};
          } else {
            error = Error::kafka(body.error_code, "InitProducerId");
          }
        } else {
          error = response.error();
        }
      } else {
        error = connection.error();
      }
      if (error) {
        if (!error->retriable()) fail_everything(*error);
        env.scheduler.sleep_for(config.retry_backoff);
        continue;
      }
    }
    std::optional<Instant> next_wake;
    auto wake_at = [&](Instant when) {
      if (!next_wake || when < *next_wake) next_wake = when;
    };
    // Seal what linger.ms, a flush, a full buffer or closing asks for.
    const bool hurry = flushing > 0 || closed || !space_freed.empty();
    bool need_metadata = false;
    absl::btree_map<int32_t, std::vector<std::unique_ptr<Batch>>> by_node;
    absl::btree_map<int32_t, size_t> request_bytes;
    for (auto& [tp, state] : partitions) {
      if (state.open) {
        if (hurry || now - state.open_since >= config.linger) {
          seal(tp, state);
        } else {
          wake_at(state.open_since + config.linger);
        }
      }
      // Expire what waited longer than delivery.timeout.ms without being sent.
      while (!state.ready.empty() && state.ready.front()->attempts == 0 &&
             now >= state.ready.front()->deadline) {
        finish_batch(*state.ready.front(),
                     Error::of(ErrorKind::timed_out, "delivery.timeout.ms passed"),
                     record::Offset{-1});
        state.ready.pop_front();
      }
      if (state.ready.empty()) continue;
      if (state.hold) {
        if (state.in_flight > 0) continue;
        state.hold = false;
      }
      if (config.idempotence && state.in_flight >= config.max_in_flight) continue;
      Batch& head = *state.ready.front();
      if (head.retry_at > now) {
        wake_at(head.retry_at);
        continue;
      }
      if (head.attempts > 0 && now >= head.deadline) {
        auto expired = std::move(state.ready.front());
        state.ready.pop_front();
        finish_batch(*expired, Error::of(ErrorKind::timed_out, "delivery.timeout.ms passed"),
                     record::Offset{-1});
        continue;
      }
      auto leader = cluster.leader(tp);
      if (!leader) {
        need_metadata = true;
        continue;
      }
      if (in_flight_per_node[*leader] >= config.max_in_flight) continue;
      if (by_node.contains(*leader) &&
          request_bytes[*leader] + head.buffered_bytes > config.request_bytes_max) {
        continue;
      }
      auto batch = std::move(state.ready.front());
      state.ready.pop_front();
      if (batch->builder) {
        BatchIdentity identity;
        if (config.idempotence) {
          identity.producer_id = *producer_id;
          identity.producer_epoch = producer_epoch;
          identity.base_sequence = record::Sequence{state.next_sequence};
          batch->base_sequence = identity.base_sequence;
          const int64_t next = int64_t{state.next_sequence} + batch->builder->record_count();
          state.next_sequence = static_cast<int32_t>(next % (int64_t{INT32_MAX} + 1));
        }
        batch->bytes = batch->builder->finish(identity);
        batch->builder.reset();
      }
      batch->attempts++;
      state.in_flight++;
      request_bytes[*leader] += batch->bytes.size();
      by_node[*leader].push_back(std::move(batch));
    }
    for (auto& [leader_node, batches] : by_node) {
      // A plain copy: clang 14 cannot capture a structured binding.
      const int32_t node = leader_node;
      in_flight_per_node[node]++;
      auto shared = std::make_shared<std::vector<std::unique_ptr<Batch>>>(std::move(batches));
      const runtime::FiberId id = env.scheduler.spawn(
          fmt::format("producer-request {}", node), [self = shared_from_this(), node, shared] {
            self->send_batches(node, std::move(*shared));
            if (auto fiber = self->env.scheduler.current_fiber()) self->fibers.erase(*fiber);
          });
      fibers.insert(id);
    }
    if (need_metadata && now - last_metadata_attempt < config.retry_backoff) {
      wake_at(last_metadata_attempt + config.retry_backoff);
    } else if (need_metadata) {
      last_metadata_attempt = now;
      auto refreshed = cluster.refresh_metadata_wait([&] {
        std::vector<std::string> topics;
        for (const auto& [tp, state] : partitions) {
          if (topics.empty() || topics.back() != tp.topic) topics.push_back(tp.topic);
        }
        return topics;
      }());
      if (refreshed) continue;
      wake_at(env.clock.now() + config.retry_backoff);
    }
    if (!by_node.empty()) continue;
    if (closed && unfinished_batches == 0) return;
    sender_wakeup.add(env.scheduler.prepare_wait());
    env.scheduler.suspend(next_wake);
  }
}

Producer::Producer(Cluster& cluster, ProducerConfig config)
    : state_(std::make_shared<State>(cluster, std::move(config))) {
  std::shared_ptr<State> state = state_;
  state->sender_running = true;
  const runtime::FiberId id = state->env.scheduler.spawn("producer-sender", [state] {
    state->sender_loop();
    state->sender_running = false;
    state->all_done.notify_all();
  });
  state->fibers.insert(id);
}

Producer::~Producer() {
  State& state = *state_;
  state.closed = true;
  // Destructors never suspend: cancel the fibers; each unwinds at its next suspension
  // point, holding the state alive until then.
  for (runtime::FiberId id : state.fibers) state.env.scheduler.cancel(id);
  state.fibers.clear();
  state.fail_everything(Error::of(ErrorKind::closed, "producer destroyed"));
}

runtime::Future<DeliveryResult> Producer::send(const std::string& topic,
                                               std::optional<int32_t> partition,
                                               std::optional<std::span<const uint8_t>> key,
                                               std::optional<std::span<const uint8_t>> value,
                                               std::span<const RecordHeader> headers) {
  Completion completion;
  completion.promise.emplace(state_->env.scheduler);
  runtime::Future<DeliveryResult> future = completion.promise->future();
  state_->append(topic, partition, key, value, headers, std::move(completion));
  return future;
}

void Producer::send(const std::string& topic, std::optional<int32_t> partition,
                    std::optional<std::span<const uint8_t>> key,
                    std::optional<std::span<const uint8_t>> value,
                    std::span<const RecordHeader> headers, DeliveryCallback callback) {
  Completion completion;
  completion.callback = std::move(callback);
  state_->append(topic, partition, key, value, headers, std::move(completion));
}

void Producer::flush() {
  State& state = *state_;
  state.flushing++;
  state.wake_sender();
  while (state.unfinished_batches > 0 && state.sender_running) {
    state.all_done.add(state.env.scheduler.prepare_wait());
    try {
      state.env.scheduler.suspend();
    } catch (const runtime::Cancelled&) {
      state.flushing--;
      throw;
    }
  }
  state.flushing--;
}

void Producer::close() {
  State& state = *state_;
  if (state.closed) return;
  flush();
  state.closed = true;
  state.wake_sender();
  state.space_freed.notify_all();
  while (state.sender_running) {
    state.all_done.add(state.env.scheduler.prepare_wait());
    state.env.scheduler.suspend();
  }
}

}  // namespace weir::client
