#include "fake_broker.h"

#include <algorithm>

#include "protocol/errors.h"

namespace weir::client::testing {

using protocol::ErrorCode;

protocol::Uuid fake_topic_id(const std::string& name) {
  protocol::Uuid id;
  for (size_t i = 0; i < name.size(); i++) id.bytes[i % 16] ^= static_cast<uint8_t>(name[i]);
  id.bytes[15] |= 1;  // never the null id
  return id;
}

void FakeBroker::create_topic(const std::string& name, int32_t partitions) {
  topics_[name].resize(static_cast<size_t>(partitions));
}

void FakeBroker::start() {
  auto listener = env_.network.listen(address_);
  VERIFY(listener.ok(), "fake broker listen");
  listener_ = std::move(listener).value();
  env_.scheduler.spawn("fake-broker-accept", [this] {
    while (true) {
      auto stream = listener_->accept();
      if (!stream) return;
      std::shared_ptr<runtime::Stream> shared = std::move(stream).value();
      env_.scheduler.spawn("fake-broker-conn", [this, shared] { serve(shared); });
    }
  });
}

void FakeBroker::stop() {
  if (listener_) listener_->close();
}

void FakeBroker::serve(std::shared_ptr<runtime::Stream> stream) {
  while (true) {
    uint8_t size_bytes[4];
    if (!stream->read_exactly(std::as_writable_bytes(std::span(size_bytes)))) return;
    const uint32_t size = (uint32_t{size_bytes[0]} << 24) | (uint32_t{size_bytes[1]} << 16) |
                          (uint32_t{size_bytes[2]} << 8) | size_bytes[3];
    protocol::Bytes frame(size);
    if (!stream->read_exactly(std::as_writable_bytes(std::span(frame)))) return;
    auto request = protocol::decode_request(frame);
    VERIFY(request.ok(), "the client sent a request the codec refuses");
    requests.push_back(request->header.api_key);
    if (silent_api && request->header.api_key == *silent_api) continue;
    if (request->header.api_key == 0) {
      const auto& produce_request = std::get<protocol::ProduceRequest>(request->body);
      if (produce_request.acks == 0) {
        bool drop = false;
        produce(produce_request, drop);
        continue;
      }
    }
    auto body = handle(*request);
    if (!body) {
      stream->close();
      return;
    }
    protocol::Bytes out(4, 0);
    if (garbage_api && request->header.api_key == *garbage_api) {
      const int32_t id = request->header.correlation_id;
      for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(id >> shift));
      out.insert(out.end(), {0xff, 0xff, 0xff, 0x7f, 0x01});
    } else {
      protocol::encode_response(request->header.correlation_id, request->header.api_version, *body,
                                out);
    }
    const uint32_t length = static_cast<uint32_t>(out.size() - 4);
    for (int i = 0; i < 4; i++)
      out[static_cast<size_t>(i)] = static_cast<uint8_t>(length >> (24 - 8 * i));
    if (!stream->write_all(std::as_bytes(std::span(out)))) return;
  }
}

std::optional<protocol::ResponseBody> FakeBroker::handle(const protocol::Request& request) {
  const int16_t version = request.header.api_version;
  // Group requests may park this connection's fiber until the group answers.
  if (auto answer = coordinator_->handle_wait(request)) return answer;
  if (const auto* api_versions = std::get_if<protocol::ApiVersionsRequest>(&request.body)) {
    (void)api_versions;
    protocol::ApiVersionsResponse response;
    for (const protocol::ApiInfo& info : protocol::supported_apis()) {
      protocol::ApiVersionsResponse::ApiVersion api;
      api.api_key = static_cast<int16_t>(info.key);
      api.min_version = info.advertised_version_min;
      api.max_version = info.version_max;
      response.api_keys.push_back(api);
    }
    return response;
  }
  if (const auto* metadata = std::get_if<protocol::MetadataRequest>(&request.body)) {
    protocol::MetadataResponse response;
    protocol::MetadataResponse::MetadataResponseBroker broker;
    broker.node_id = 1;
    broker.host = address_.host;
    broker.port = address_.port;
    response.brokers.push_back(broker);
    response.cluster_id = "fake";
    response.controller_id = 1;
    std::vector<std::string> names;
    if (metadata->topics) {
      for (const auto& topic : *metadata->topics) names.push_back(topic.name.value_or(""));
    } else {
      for (const auto& [name, partitions] : topics_) names.push_back(name);
    }
    for (const std::string& name : names) {
      protocol::MetadataResponse::MetadataResponseTopic topic;
      topic.name = name;
      auto found = topics_.find(name);
      if (found == topics_.end()) {
        topic.error_code = protocol::error_value(ErrorCode::unknown_topic_or_partition);
      } else {
        topic.topic_id = fake_topic_id(name);
        for (size_t i = 0; i < found->second.size(); i++) {
          protocol::MetadataResponse::MetadataResponsePartition partition;
          partition.partition_index = static_cast<int32_t>(i);
          partition.leader_id = 1;
          partition.leader_epoch = 0;
          partition.replica_nodes = {1};
          partition.isr_nodes = {1};
          topic.partitions.push_back(partition);
        }
      }
      response.topics.push_back(std::move(topic));
    }
    return response;
  }
  if (std::holds_alternative<protocol::InitProducerIdRequest>(request.body)) {
    protocol::InitProducerIdResponse response;
    response.producer_id = next_producer_id_++;
    response.producer_epoch = 0;
    return response;
  }
  if (const auto* produce_request = std::get_if<protocol::ProduceRequest>(&request.body)) {
    bool drop = false;
    auto response = produce(*produce_request, drop);
    if (drop) return std::nullopt;
    return response;
  }
  if (const auto* fetch_request = std::get_if<protocol::FetchRequest>(&request.body)) {
    return fetch(*fetch_request, version);
  }
  if (const auto* list = std::get_if<protocol::ListOffsetsRequest>(&request.body)) {
    protocol::ListOffsetsResponse response;
    for (const auto& topic : list->topics) {
      protocol::ListOffsetsResponse::ListOffsetsTopicResponse out_topic;
      out_topic.name = topic.name;
      for (const auto& partition : topic.partitions) {
        protocol::ListOffsetsResponse::ListOffsetsPartitionResponse out;
        out.partition_index = partition.partition_index;
        FakePartition& stored = this->partition(topic.name, partition.partition_index);
        out.offset = partition.timestamp == -2 ? 0 : stored.end_offset();
        out_topic.partitions.push_back(out);
      }
      response.topics.push_back(std::move(out_topic));
    }
    return response;
  }
  VERIFY(false, "the fake broker does not serve api {}", request.header.api_key);
  return std::nullopt;
}

protocol::ResponseBody FakeBroker::produce(const protocol::ProduceRequest& request, bool& drop) {
  produce_requests_++;
  protocol::ProduceResponse response;
  for (const auto& topic : request.topic_data) {
    protocol::ProduceResponse::TopicProduceResponse out_topic;
    out_topic.name = topic.name;
    for (const auto& data : topic.partition_data) {
      protocol::ProduceResponse::PartitionProduceResponse out;
      out.index = data.index;
      const ProduceFault fault =
          produce_fault ? produce_fault(topic.name, data.index) : ProduceFault::none;
      if (fault == ProduceFault::error) {
        out.error_code = fault_error;
        out_topic.partition_responses.push_back(out);
        continue;
      }
      if (fault == ProduceFault::drop_response) drop = true;
      FakePartition& stored = partition(topic.name, data.index);
      auto batches = record::split_batches(*data.records);
      VERIFY(batches.ok() && batches->size() == 1, "one valid batch per partition");
      const record::BatchView& batch = batches->front();
      const record::BatchHeader& header = batch.header;
      if (header.producer_id.value() >= 0) {
        const int32_t sequence = header.base_sequence.value();
        if (auto seen = stored.recent_batches.find(sequence); seen != stored.recent_batches.end()) {
          out.base_offset = seen->second;  // a duplicate: Kafka answers the first offset
          out_topic.partition_responses.push_back(out);
          continue;
        }
        if (sequence != stored.next_sequence) {
          out.error_code = protocol::error_value(ErrorCode::out_of_order_sequence_number);
          out_topic.partition_responses.push_back(out);
          continue;
        }
        stored.next_sequence = sequence + header.records_count;
        stored.recent_batches[sequence] = stored.end_offset();
        if (stored.recent_batches.size() > 5)
          stored.recent_batches.erase(stored.recent_batches.begin());
      }
      const int64_t base = stored.end_offset();
      record::Bytes bytes(batch.bytes.begin(), batch.bytes.end());
      record::set_base_offset(bytes, record::Offset{base});
      auto records = record::decode_records(batch, size_t{1} << 30);
      VERIFY(records.ok());
      for (const record::Record& each : *records) {
        stored.records.push_back(StoredRecord{base + each.offset_delta, each.key, each.value,
                                              header.producer_id.value(),
                                              header.base_sequence.value() + each.offset_delta});
      }
      stored.batches.push_back(std::move(bytes));
      out.base_offset = base;
      out_topic.partition_responses.push_back(out);
    }
    response.responses.push_back(std::move(out_topic));
  }
  return response;
}

protocol::ResponseBody FakeBroker::fetch(const protocol::FetchRequest& request, int16_t version) {
  protocol::FetchResponse response;
  for (const auto& topic : request.topics) {
    std::string name = topic.topic;
    if (version >= 13) {
      for (const auto& [candidate, partitions] : topics_) {
        if (fake_topic_id(candidate) == topic.topic_id) name = candidate;
      }
    }
    protocol::FetchResponse::FetchableTopicResponse out_topic;
    out_topic.topic = topic.topic;
    out_topic.topic_id = topic.topic_id;
    for (const auto& wanted : topic.partitions) {
      protocol::FetchResponse::PartitionData out;
      out.partition_index = wanted.partition;
      FakePartition& stored = partition(name, wanted.partition);
      out.high_watermark = stored.end_offset();
      out.last_stable_offset = stored.end_offset();
      out.log_start_offset = 0;
      if (int16_t error = fetch_error ? fetch_error(name, wanted.partition) : 0; error != 0) {
        out.error_code = error;
        out_topic.partitions.push_back(std::move(out));
        continue;
      }
      if (wanted.fetch_offset > stored.end_offset() || wanted.fetch_offset < 0) {
        out.error_code = protocol::error_value(ErrorCode::offset_out_of_range);
        out_topic.partitions.push_back(std::move(out));
        continue;
      }
      record::Bytes records;
      for (const record::Bytes& batch : stored.batches) {
        auto header = record::read_batch_header(batch);
        if (header->last_offset().value() < wanted.fetch_offset) continue;
        if (!records.empty() &&
            records.size() + batch.size() > static_cast<size_t>(wanted.partition_max_bytes)) {
          break;
        }
        records.insert(records.end(), batch.begin(), batch.end());
      }
      out.records = std::move(records);
      out_topic.partitions.push_back(std::move(out));
    }
    response.responses.push_back(std::move(out_topic));
  }
  return response;
}

}  // namespace weir::client::testing
