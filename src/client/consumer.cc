#include "client/consumer.h"

#include <algorithm>
#include <charconv>
#include <deque>

#include <absl/container/btree_set.h>

namespace weir::client {

using protocol::ErrorCode;
using record::Offset;
using runtime::Instant;

std::optional<std::string> apply_consumer_property(ConsumerConfig& config, std::string_view key,
                                                   std::string_view value) {
  auto bad = [&] { return fmt::format("invalid value '{}' for {}", value, key); };
  if (key == "auto.offset.reset") {
    if (value == "earliest") {
      config.auto_offset_reset = OffsetReset::earliest;
    } else if (value == "latest") {
      config.auto_offset_reset = OffsetReset::latest;
    } else if (value == "none") {
      config.auto_offset_reset = OffsetReset::none;
    } else {
      return bad();
    }
    return std::nullopt;
  }
  if (key == "isolation.level") {
    if (value != "read_committed" && value != "read_uncommitted") return bad();
    config.read_committed = value == "read_committed";
    return std::nullopt;
  }
  int64_t n = 0;
  auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), n);
  const bool numeric = error == std::errc{} && end == value.data() + value.size() && n >= 0;
  auto as_int32 = [&] { return static_cast<int32_t>(std::min<int64_t>(n, INT32_MAX)); };
  if (key == "fetch.min.bytes") {
    if (!numeric) return bad();
    config.fetch_min_bytes = as_int32();
  } else if (key == "fetch.max.wait.ms") {
    if (!numeric) return bad();
    config.fetch_max_wait = runtime::milliseconds(n);
  } else if (key == "fetch.max.bytes") {
    if (!numeric) return bad();
    config.fetch_max_bytes = as_int32();
  } else if (key == "max.partition.fetch.bytes") {
    if (!numeric) return bad();
    config.max_partition_fetch_bytes = as_int32();
  } else if (key == "max.poll.records") {
    if (!numeric || n == 0) return bad();
    config.max_poll_records = static_cast<size_t>(n);
  } else if (key == "retry.backoff.ms") {
    if (!numeric) return bad();
    config.retry_backoff = runtime::milliseconds(n);
  } else {
    return fmt::format("unknown consumer property {}", key);
  }
  return std::nullopt;
}

namespace {

struct PartitionPosition {
  std::optional<Offset> position;  // where the next Fetch reads from
  std::optional<Offset> high_watermark;
  Instant retry_at;
  // Records fetched but not yet handed out by poll, and an offset above every record
  // handed out and at most the first of them: while any wait, the consumer's position
  // (what a group commits) is there, not at the fetch position.
  size_t buffered = 0;
  Offset unreturned_from{0};
};

struct FetchInFlight {
  std::optional<runtime::Future<ResponseResult>> future;
  // The position each partition was fetched from, to drop answers a seek outdated.
  absl::btree_map<TopicPartition, Offset> fetched_from;
  int16_t version = 0;
};

}  // namespace

struct Consumer::State {
  State(Cluster& c, ConsumerConfig conf) : cluster(c), env(c.env()), config(std::move(conf)) {}

  Cluster& cluster;
  runtime::Env env;
  ConsumerConfig config;
  absl::btree_map<TopicPartition, PartitionPosition> positions;
  absl::btree_map<int32_t, FetchInFlight> in_flight;
  std::deque<ConsumerRecord> buffered;
  Instant metadata_retry_at;  // no metadata refresh before then (retry.backoff.ms)
  record::Bytes scratch;
  std::vector<record::HeaderView> header_views;

  ClientResult<void> reset_positions_wait();
  void send_fetches_wait();
  ClientResult<void> take_response(int32_t node, FetchInFlight& fetch);
  ClientResult<void> take_partition(const TopicPartition& tp, Offset fetched_from,
                                    const protocol::FetchResponse::PartitionData& data);
  ClientResult<absl::btree_map<TopicPartition, Offset>> list_offsets_wait(
      const std::vector<TopicPartition>& partitions, int64_t timestamp);
};

ClientResult<absl::btree_map<TopicPartition, Offset>> Consumer::State::list_offsets_wait(
    const std::vector<TopicPartition>& partitions, int64_t timestamp) {
  absl::btree_map<TopicPartition, Offset> found;
  const Instant deadline = env.clock.now() + cluster.options().connection.request_timeout;
  std::vector<TopicPartition> remaining = partitions;
  while (!remaining.empty()) {
    std::optional<Error> retry_error;
    absl::btree_map<int32_t, std::vector<TopicPartition>> by_leader;
    for (const TopicPartition& tp : remaining) {
      auto info = cluster.topic_wait(tp.topic, deadline);
      if (!info) return unexpected(info.error());
      auto leader = cluster.leader(tp);
      if (!leader) {
        retry_error = Error::kafka(protocol::error_value(ErrorCode::leader_not_available));
        cluster.invalidate();
        continue;
      }
      by_leader[*leader].push_back(tp);
    }
    std::vector<TopicPartition> again;
    for (const auto& [node, tps] : by_leader) {
      protocol::ListOffsetsRequest request;
      request.replica_id = -1;
      request.isolation_level = config.read_committed ? 1 : 0;
      for (const TopicPartition& tp : tps) {
        if (request.topics.empty() || request.topics.back().name != tp.topic) {
          request.topics.emplace_back();
          request.topics.back().name = tp.topic;
        }
        protocol::ListOffsetsRequest::ListOffsetsPartition partition;
        partition.partition_index = tp.partition;
        partition.timestamp = timestamp;
        request.topics.back().partitions.push_back(partition);
      }
      auto connection = cluster.connection_wait(node);
      if (!connection) {
        retry_error = connection.error();
        again.insert(again.end(), tps.begin(), tps.end());
        continue;
      }
      auto response = (*connection)->send_and_wait(std::move(request));
      if (!response) {
        retry_error = response.error();
        again.insert(again.end(), tps.begin(), tps.end());
        continue;
      }
      const auto& body = std::get<protocol::ListOffsetsResponse>(**response);
      for (const auto& topic : body.topics) {
        for (const auto& partition : topic.partitions) {
          TopicPartition tp{topic.name, partition.partition_index};
          if (partition.error_code != 0) {
            Error error = Error::kafka(partition.error_code, "ListOffsets");
            if (!error.retriable()) return unexpected(error);
            if (error.needs_metadata_refresh()) cluster.invalidate();
            retry_error = error;
            again.push_back(tp);
            continue;
          }
          found[tp] = Offset{partition.offset};
        }
      }
    }
    for (const TopicPartition& tp : remaining) {
      if (!found.contains(tp) && std::find(again.begin(), again.end(), tp) == again.end()) {
        if (!retry_error) {
          return unexpected(Error::of(ErrorKind::malformed_response,
                                      "partition missing in ListOffsets response"));
        }
        again.push_back(tp);
      }
    }
    remaining = std::move(again);
    if (remaining.empty()) break;
    if (env.clock.now() + config.retry_backoff >= deadline) {
      return unexpected(retry_error.value_or(Error::of(ErrorKind::timed_out, "ListOffsets")));
    }
    env.scheduler.sleep_for(config.retry_backoff);
  }
  return found;
}

ClientResult<void> Consumer::State::reset_positions_wait() {
  std::vector<TopicPartition> unknown;
  for (const auto& [tp, position] : positions) {
    if (!position.position) unknown.push_back(tp);
  }
  if (unknown.empty()) return {};
  if (config.auto_offset_reset == OffsetReset::none) {
    return unexpected(Error::of(ErrorKind::invalid_argument,
                                fmt::format("no position for {}-{} and auto.offset.reset=none",
                                            unknown.front().topic, unknown.front().partition)));
  }
  auto offsets = list_offsets_wait(unknown, config.auto_offset_reset == OffsetReset::earliest
                                                ? kEarliestTimestamp
                                                : kLatestTimestamp);
  if (!offsets) return unexpected(offsets.error());
  for (const auto& [tp, offset] : *offsets) {
    auto found = positions.find(tp);
    if (found != positions.end() && !found->second.position) found->second.position = offset;
  }
  return {};
}

void Consumer::State::send_fetches_wait() {
  Instant now = env.clock.now();
  const auto fetchable = [&](const PartitionPosition& position) {
    return position.position && position.retry_at <= now;
  };
  // Whom to fetch from comes from metadata: refresh it first when a partition's leader
  // is unknown, or when an answer marked it stale (NOT_LEADER_OR_FOLLOWER, a dead
  // connection) — else every fetch goes on to the old leader. At most once per
  // retry.backoff.ms.
  const bool leader_unknown = std::ranges::any_of(positions, [&](const auto& entry) {
    return fetchable(entry.second) && !cluster.leader(entry.first);
  });
  if ((leader_unknown || cluster.stale()) && now >= metadata_retry_at) {
    metadata_retry_at = now + config.retry_backoff;
    std::vector<std::string> topics;
    for (const auto& [tp, position] : positions) {
      if (topics.empty() || topics.back() != tp.topic) topics.push_back(tp.topic);
    }
    (void)cluster.refresh_metadata_wait(topics);
    now = env.clock.now();
  }
  absl::btree_map<int32_t, std::vector<TopicPartition>> by_leader;
  for (const auto& [tp, position] : positions) {
    if (!fetchable(position)) continue;
    auto leader = cluster.leader(tp);
    if (!leader || in_flight.contains(*leader)) continue;
    by_leader[*leader].push_back(tp);
  }
  for (const auto& [node, tps] : by_leader) {
    auto connection = cluster.connection_wait(node);
    if (!connection) {
      cluster.invalidate();
      for (const TopicPartition& tp : tps) positions[tp].retry_at = now + config.retry_backoff;
      continue;
    }
    int16_t version = (*connection)->version(protocol::ApiKey::fetch).value_or(-1);
    if (version < 0) continue;
    // Fetch v13+ names topics by id; without ids from Metadata, stay at v12.
    bool have_ids = true;
    for (const TopicPartition& tp : tps) {
      const TopicInfo* info = cluster.topic(tp.topic);
      if (info == nullptr || info->topic_id == protocol::Uuid{}) have_ids = false;
    }
    if (!have_ids) version = std::min<int16_t>(version, 12);
    protocol::FetchRequest request;
    request.replica_id = -1;
    request.max_wait_ms = static_cast<int32_t>(
        std::chrono::duration_cast<runtime::milliseconds>(config.fetch_max_wait).count());
    request.min_bytes = config.fetch_min_bytes;
    request.max_bytes = config.fetch_max_bytes;
    request.isolation_level = config.read_committed ? 1 : 0;
    request.session_id = 0;
    request.session_epoch = -1;
    FetchInFlight fetch;
    for (const TopicPartition& tp : tps) {
      if (request.topics.empty() || request.topics.back().topic != tp.topic) {
        request.topics.emplace_back();
        request.topics.back().topic = tp.topic;
        if (const TopicInfo* info = cluster.topic(tp.topic)) {
          request.topics.back().topic_id = info->topic_id;
        }
      }
      protocol::FetchRequest::FetchPartition partition;
      partition.partition = tp.partition;
      partition.fetch_offset = positions[tp].position->value();
      partition.partition_max_bytes = config.max_partition_fetch_bytes;
      request.topics.back().partitions.push_back(partition);
      fetch.fetched_from[tp] = *positions[tp].position;
    }
    fetch.version = version;
    fetch.future = (*connection)->send(std::move(request), version);
    in_flight.emplace(node, std::move(fetch));
  }
}

ClientResult<void> Consumer::State::take_partition(
    const TopicPartition& tp, Offset fetched_from,
    const protocol::FetchResponse::PartitionData& data) {
  auto found = positions.find(tp);
  // Unassigned meanwhile, or moved by a seek: the answer is for a position no longer
  // wanted.
  if (found == positions.end() || found->second.position != fetched_from) return {};
  PartitionPosition& position = found->second;
  if (data.error_code != 0) {
    Error error = Error::kafka(data.error_code, fmt::format("{}-{}", tp.topic, tp.partition));
    if (error.code == ErrorCode::offset_out_of_range) {
      if (config.auto_offset_reset == OffsetReset::none) return unexpected(error);
      position.position.reset();
      return {};
    }
    if (error.retriable()) {
      if (error.needs_metadata_refresh()) cluster.invalidate();
      position.retry_at = env.clock.now() + config.retry_backoff;
      return {};
    }
    return unexpected(error);
  }
  position.high_watermark = Offset{data.high_watermark};
  if (!data.records || data.records->empty()) return {};
  std::span<const uint8_t> bytes(*data.records);
  // Transactions aborted in this range, by first offset; with read_committed their
  // batches are skipped until the producer's abort marker.
  std::vector<protocol::FetchResponse::AbortedTransaction> aborted;
  if (config.read_committed && data.aborted_transactions) aborted = *data.aborted_transactions;
  std::sort(aborted.begin(), aborted.end(),
            [](const auto& a, const auto& b) { return a.first_offset < b.first_offset; });
  size_t next_aborted = 0;
  absl::btree_set<int64_t> aborting;
  Offset next = *position.position;
  while (bytes.size() >= record::kBatchHeaderSize) {
    auto header = record::read_batch_header(bytes);
    if (!header) break;
    // A partial batch at the end is normal: the broker cut the response at a size.
    if (header->size_bytes() > bytes.size()) break;
    auto batch = record::validate_batch(bytes.first(header->size_bytes()));
    if (!batch) {
      return unexpected(Error::of(
          ErrorKind::malformed_response,
          fmt::format("{}-{} at offset {}: {}", tp.topic, tp.partition, header->base_offset.value(),
                      record::record_error_name(batch.error()))));
    }
    bytes = bytes.subspan(header->size_bytes());
    const record::BatchHeader& h = batch->header;
    if (h.last_offset() < next) continue;
    while (next_aborted < aborted.size() &&
           aborted[next_aborted].first_offset <= h.last_offset().value()) {
      aborting.insert(aborted[next_aborted].producer_id);
      next_aborted++;
    }
    const bool skip =
        h.is_control() || (h.is_transactional() && aborting.contains(h.producer_id.value()));
    if (h.is_control()) {
      // An abort or commit marker ends the producer's transaction.
      aborting.erase(h.producer_id.value());
    }
    if (skip) {
      next = h.last_offset() + 1;
      continue;
    }
    auto section = record::records_section(*batch, size_t{1} << 30, scratch);
    if (!section) {
      return unexpected(Error::of(ErrorKind::malformed_response,
                                  fmt::format("{}-{}: {}", tp.topic, tp.partition,
                                              record::record_error_name(section.error()))));
    }
    record::RecordCursor cursor(*section, h.records_count);
    record::RecordView view;
    while (true) {
      auto more = cursor.next(view);
      if (!more) {
        return unexpected(Error::of(ErrorKind::malformed_response,
                                    fmt::format("{}-{}: {}", tp.topic, tp.partition,
                                                record::record_error_name(more.error()))));
      }
      if (!*more) break;
      const Offset offset = h.base_offset + view.offset_delta;
      if (offset < next) continue;
      ConsumerRecord out;
      out.partition = tp;
      out.offset = offset;
      out.timestamp_type = h.timestamp_type();
      out.timestamp = h.timestamp_type() == record::TimestampType::log_append_time
                          ? h.max_timestamp
                          : h.base_timestamp + view.timestamp_delta;
      out.leader_epoch = h.partition_leader_epoch;
      if (view.key) out.key = record::Bytes(view.key->begin(), view.key->end());
      if (view.value) out.value = record::Bytes(view.value->begin(), view.value->end());
      if (view.header_count > 0) {
        if (!record::read_headers(view, header_views)) {
          return unexpected(Error::of(ErrorKind::malformed_response, "record headers"));
        }
        for (const record::HeaderView& header_view : header_views) {
          record::Header owned;
          owned.key.assign(header_view.key.begin(), header_view.key.end());
          if (header_view.value) {
            owned.value = record::Bytes(header_view.value->begin(), header_view.value->end());
          }
          out.headers.push_back(std::move(owned));
        }
      }
      if (position.buffered++ == 0) position.unreturned_from = out.offset;
      buffered.push_back(std::move(out));
    }
    next = h.last_offset() + 1;
  }
  position.position = next;
  return {};
}

ClientResult<void> Consumer::State::take_response(int32_t node, FetchInFlight& fetch) {
  auto result = fetch.future->get();
  const Instant now = env.clock.now();
  if (!result || !result->ok()) {
    cluster.invalidate();
    for (const auto& [tp, offset] : fetch.fetched_from) {
      auto found = positions.find(tp);
      if (found != positions.end()) found->second.retry_at = now + config.retry_backoff;
    }
    return {};
  }
  const auto& body = std::get<protocol::FetchResponse>(***result);
  if (body.error_code != 0) {
    Error error = Error::kafka(body.error_code, "Fetch");
    if (!error.retriable()) return unexpected(error);
    return {};
  }
  for (const auto& topic : body.responses) {
    std::string name = topic.topic;
    if (fetch.version >= 13) {
      name.clear();
      for (const auto& [topic_name, info] : cluster.topics()) {
        if (info.topic_id == topic.topic_id) name = topic_name;
      }
      if (name.empty()) continue;
    }
    for (const auto& partition : topic.partitions) {
      TopicPartition tp{name, partition.partition_index};
      auto from = fetch.fetched_from.find(tp);
      if (from == fetch.fetched_from.end()) continue;
      auto taken = take_partition(tp, from->second, partition);
      if (!taken) return taken;
    }
  }
  (void)node;
  return {};
}

Consumer::Consumer(Cluster& cluster, ConsumerConfig config)
    : state_(std::make_shared<State>(cluster, std::move(config))) {}

Consumer::~Consumer() = default;

void Consumer::assign(std::vector<TopicPartition> partitions) {
  absl::btree_map<TopicPartition, PartitionPosition> next;
  for (TopicPartition& tp : partitions) {
    auto old = state_->positions.find(tp);
    next[tp] = old != state_->positions.end() ? old->second : PartitionPosition{};
  }
  state_->positions = std::move(next);
  std::erase_if(state_->buffered, [&](const ConsumerRecord& record) {
    return !state_->positions.contains(record.partition);
  });
}

std::vector<TopicPartition> Consumer::assignment() const {
  std::vector<TopicPartition> out;
  for (const auto& [tp, position] : state_->positions) out.push_back(tp);
  return out;
}

void Consumer::seek(const TopicPartition& tp, Offset offset) {
  auto found = state_->positions.find(tp);
  VERIFY(found != state_->positions.end(), "seek on an unassigned partition");
  found->second.position = offset;
  found->second.buffered = 0;
  std::erase_if(state_->buffered,
                [&](const ConsumerRecord& record) { return record.partition == tp; });
}

ClientResult<void> Consumer::seek_to_beginning_wait(const std::vector<TopicPartition>& tps) {
  auto offsets = state_->list_offsets_wait(tps, kEarliestTimestamp);
  if (!offsets) return unexpected(offsets.error());
  for (const auto& [tp, offset] : *offsets) seek(tp, offset);
  return {};
}

ClientResult<void> Consumer::seek_to_end_wait(const std::vector<TopicPartition>& tps) {
  auto offsets = state_->list_offsets_wait(tps, kLatestTimestamp);
  if (!offsets) return unexpected(offsets.error());
  for (const auto& [tp, offset] : *offsets) seek(tp, offset);
  return {};
}

std::optional<Offset> Consumer::position(const TopicPartition& tp) const {
  auto found = state_->positions.find(tp);
  if (found == state_->positions.end()) return std::nullopt;
  if (found->second.buffered > 0) return found->second.unreturned_from;
  return found->second.position;
}

std::optional<Offset> Consumer::high_watermark(const TopicPartition& tp) const {
  auto found = state_->positions.find(tp);
  if (found == state_->positions.end()) return std::nullopt;
  return found->second.high_watermark;
}

ClientResult<Offset> Consumer::list_offset_wait(const TopicPartition& tp, int64_t timestamp) {
  auto offsets = state_->list_offsets_wait({tp}, timestamp);
  if (!offsets) return unexpected(offsets.error());
  auto found = offsets->find(tp);
  VERIFY(found != offsets->end());
  return found->second;
}

ClientResult<std::vector<ConsumerRecord>> Consumer::poll(runtime::Duration timeout) {
  State& state = *state_;
  const Instant deadline = state.env.clock.now() + timeout;
  std::vector<ConsumerRecord> out;
  while (true) {
    // Records of partitions a seek or assign moved are already gone from the buffer.
    if (!state.buffered.empty()) {
      const size_t count = std::min(state.buffered.size(), state.config.max_poll_records);
      out.reserve(count);
      for (size_t i = 0; i < count; i++) {
        ConsumerRecord& record = state.buffered.front();
        // Buffered records belong to assigned partitions (assign and seek drop the rest).
        PartitionPosition& position = state.positions.at(record.partition);
        position.buffered--;
        position.unreturned_from = record.offset + 1;
        out.push_back(std::move(record));
        state.buffered.pop_front();
      }
      // Prefetch: the next Fetch travels while the caller handles these.
      state.send_fetches_wait();
      return out;
    }
    if (auto reset = state.reset_positions_wait(); !reset) return unexpected(reset.error());
    state.send_fetches_wait();
    // Take every finished fetch; if none is finished, wait for one (or a retry time).
    bool took = false;
    for (auto it = state.in_flight.begin(); it != state.in_flight.end();) {
      if (!it->second.future->ready()) {
        ++it;
        continue;
      }
      FetchInFlight fetch = std::move(it->second);
      const int32_t node = it->first;
      it = state.in_flight.erase(it);
      took = true;
      auto taken = state.take_response(node, fetch);
      if (!taken) return unexpected(taken.error());
    }
    if (took) continue;
    const Instant now = state.env.clock.now();
    if (now >= deadline) return out;
    std::optional<Instant> wake = deadline;
    if (state.in_flight.empty()) wake = std::min(deadline, now + state.config.retry_backoff);
    for (const auto& [tp, position] : state.positions) {
      if (position.retry_at > now && position.retry_at < *wake) wake = position.retry_at;
    }
    if (state.positions.empty()) {
      state.env.scheduler.sleep_until(deadline);
      return out;
    }
    runtime::Waker waker = state.env.scheduler.prepare_wait();
    for (auto& [node, fetch] : state.in_flight) fetch.future->subscribe(waker);
    state.env.scheduler.suspend(wake);
  }
}

}  // namespace weir::client
