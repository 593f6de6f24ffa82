#include "raft/wire.h"

#include <utility>

#include "base/assert.h"
#include "record/batch.h"

namespace weir::raft {

using protocol::ErrorCode;

protocol::Uuid metadata_topic_id() {
  protocol::Uuid id;
  id.bytes[15] = 1;
  return id;
}

namespace {

ErrorCode error_of(int16_t code) { return static_cast<ErrorCode>(code); }
std::optional<ReplicaId> leader_of(int32_t id) {
  if (id < 0) return std::nullopt;
  return ReplicaId(id);
}
int32_t leader_to_wire(std::optional<ReplicaId> leader) { return leader ? leader->value() : -1; }

// Every raft message names exactly one partition: __cluster_metadata-0.
template <typename Topics>
const auto* only_partition(const Topics& topics) {
  using Partition = typename decltype(Topics{}.front().partitions)::value_type;
  const Partition* none = nullptr;
  if (topics.size() != 1 || topics[0].partitions.size() != 1) return none;
  if (topics[0].topic_name != metadata_topic) return none;
  if (topics[0].partitions[0].partition_index != 0) return none;
  return &topics[0].partitions[0];
}

template <typename Message>
Message with_one_partition(typename Message::PartitionData partition) {
  Message message;
  typename Message::TopicData topic;
  topic.topic_name = metadata_topic;
  partition.partition_index = 0;
  topic.partitions.push_back(std::move(partition));
  message.topics.push_back(std::move(topic));
  return message;
}

}  // namespace

protocol::VoteRequest to_wire(const VoteRequest& request, const std::string& cluster_id) {
  protocol::VoteRequest::PartitionData partition;
  partition.candidate_epoch = request.candidate_epoch.value();
  partition.candidate_id = request.candidate.value();
  partition.last_offset_epoch = request.last.epoch.value();
  partition.last_offset = request.last.offset.value();
  partition.pre_vote = request.pre_vote;
  auto message = with_one_partition<protocol::VoteRequest>(std::move(partition));
  message.cluster_id = cluster_id;
  return message;
}

std::optional<VoteRequest> from_wire(const protocol::VoteRequest& request) {
  const auto* partition = only_partition(request.topics);
  if (!partition || partition->last_offset < 0) return std::nullopt;
  return VoteRequest{
      Epoch(partition->candidate_epoch), ReplicaId(partition->candidate_id),
      LogPosition{Offset(partition->last_offset), Epoch(partition->last_offset_epoch)},
      partition->pre_vote};
}

protocol::VoteResponse to_wire(const VoteResponse& response) {
  protocol::VoteResponse message;
  protocol::VoteResponse::TopicData topic;
  topic.topic_name = metadata_topic;
  protocol::VoteResponse::PartitionData partition;
  partition.error_code = protocol::error_value(response.error);
  partition.leader_id = leader_to_wire(response.leader);
  partition.leader_epoch = response.epoch.value();
  partition.vote_granted = response.granted;
  topic.partitions.push_back(partition);
  message.topics.push_back(std::move(topic));
  return message;
}

std::optional<VoteResponse> from_wire(const protocol::VoteResponse& response) {
  if (response.error_code != 0) {
    return VoteResponse{error_of(response.error_code), Epoch(-1), std::nullopt, false};
  }
  const auto* partition = only_partition(response.topics);
  if (!partition) return std::nullopt;
  return VoteResponse{error_of(partition->error_code), Epoch(partition->leader_epoch),
                      leader_of(partition->leader_id), partition->vote_granted};
}

protocol::BeginQuorumEpochRequest to_wire(const BeginEpochRequest& request,
                                          const std::string& cluster_id) {
  protocol::BeginQuorumEpochRequest::PartitionData partition;
  partition.leader_id = request.leader.value();
  partition.leader_epoch = request.epoch.value();
  auto message = with_one_partition<protocol::BeginQuorumEpochRequest>(std::move(partition));
  message.cluster_id = cluster_id;
  return message;
}

std::optional<BeginEpochRequest> from_wire(const protocol::BeginQuorumEpochRequest& request) {
  const auto* partition = only_partition(request.topics);
  if (!partition || partition->leader_id < 0) return std::nullopt;
  return BeginEpochRequest{Epoch(partition->leader_epoch), ReplicaId(partition->leader_id)};
}

namespace {
template <typename Message>
Message epoch_response_to_wire(const EpochResponse& response) {
  Message message;
  typename Message::TopicData topic;
  topic.topic_name = metadata_topic;
  typename Message::PartitionData partition;
  partition.error_code = protocol::error_value(response.error);
  partition.leader_id = leader_to_wire(response.leader);
  partition.leader_epoch = response.epoch.value();
  topic.partitions.push_back(partition);
  message.topics.push_back(std::move(topic));
  return message;
}
}  // namespace

protocol::BeginQuorumEpochResponse to_begin_epoch_wire(const EpochResponse& response) {
  return epoch_response_to_wire<protocol::BeginQuorumEpochResponse>(response);
}

std::optional<EpochResponse> from_wire(const protocol::BeginQuorumEpochResponse& response) {
  if (response.error_code != 0) {
    return EpochResponse{error_of(response.error_code), Epoch(-1), std::nullopt};
  }
  const auto* partition = only_partition(response.topics);
  if (!partition) return std::nullopt;
  return EpochResponse{error_of(partition->error_code), Epoch(partition->leader_epoch),
                       leader_of(partition->leader_id)};
}

protocol::EndQuorumEpochRequest to_wire(const EndEpochRequest& request,
                                        const std::string& cluster_id) {
  protocol::EndQuorumEpochRequest::PartitionData partition;
  partition.leader_id = request.leader.value();
  partition.leader_epoch = request.epoch.value();
  for (ReplicaId successor : request.preferred_successors) {
    partition.preferred_successors.push_back(successor.value());
    protocol::EndQuorumEpochRequest::ReplicaInfo candidate;
    candidate.candidate_id = successor.value();
    partition.preferred_candidates.push_back(candidate);
  }
  auto message = with_one_partition<protocol::EndQuorumEpochRequest>(std::move(partition));
  message.cluster_id = cluster_id;
  return message;
}

std::optional<EndEpochRequest> from_wire(const protocol::EndQuorumEpochRequest& request) {
  const auto* partition = only_partition(request.topics);
  if (!partition || partition->leader_id < 0) return std::nullopt;
  EndEpochRequest result{Epoch(partition->leader_epoch), ReplicaId(partition->leader_id), {}};
  for (int32_t id : partition->preferred_successors) result.preferred_successors.emplace_back(id);
  for (const auto& candidate : partition->preferred_candidates) {
    result.preferred_successors.emplace_back(candidate.candidate_id);
  }
  return result;
}

protocol::EndQuorumEpochResponse to_end_epoch_wire(const EpochResponse& response) {
  return epoch_response_to_wire<protocol::EndQuorumEpochResponse>(response);
}

protocol::FetchRequest to_wire(const FetchRequest& request, const std::string& cluster_id,
                               runtime::Duration max_wait, int32_t max_bytes) {
  protocol::FetchRequest message;
  message.cluster_id = cluster_id;
  // Versions up to 14 carry the replica id in the body, later ones in replica_state.
  message.replica_id = request.replica.value();
  message.replica_state.replica_id = request.replica.value();
  message.max_wait_ms =
      static_cast<int32_t>(std::chrono::duration_cast<runtime::milliseconds>(max_wait).count());
  message.min_bytes = 1;
  message.max_bytes = max_bytes;
  protocol::FetchRequest::FetchTopic topic;
  topic.topic = metadata_topic;
  topic.topic_id = metadata_topic_id();
  protocol::FetchRequest::FetchPartition partition;
  partition.partition = 0;
  partition.current_leader_epoch = request.current_leader_epoch.value();
  partition.fetch_offset = request.fetch_offset.value();
  partition.last_fetched_epoch = request.last_fetched_epoch.value();
  partition.partition_max_bytes = max_bytes;
  topic.partitions.push_back(partition);
  message.topics.push_back(std::move(topic));
  return message;
}

std::optional<FetchRequest> from_wire(const protocol::FetchRequest& request) {
  if (request.topics.size() != 1 || request.topics[0].partitions.size() != 1) return std::nullopt;
  const auto& topic = request.topics[0];
  if (topic.topic != metadata_topic && topic.topic_id != metadata_topic_id()) return std::nullopt;
  const auto& partition = topic.partitions[0];
  if (partition.partition != 0 || partition.fetch_offset < 0) return std::nullopt;
  const int32_t replica =
      request.replica_state.replica_id >= 0 ? request.replica_state.replica_id : request.replica_id;
  return FetchRequest{ReplicaId(replica), Epoch(partition.current_leader_epoch),
                      Offset(partition.fetch_offset), Epoch(partition.last_fetched_epoch)};
}

protocol::FetchResponse to_wire(const FetchDecision& decision, protocol::Bytes records) {
  protocol::FetchResponse message;
  protocol::FetchResponse::FetchableTopicResponse topic;
  topic.topic = metadata_topic;
  topic.topic_id = metadata_topic_id();
  protocol::FetchResponse::PartitionData partition;
  partition.partition_index = 0;
  partition.error_code = protocol::error_value(decision.error);
  partition.high_watermark = decision.high_watermark.value();
  partition.current_leader.leader_id = leader_to_wire(decision.leader);
  partition.current_leader.leader_epoch = decision.epoch.value();
  if (decision.diverging) {
    partition.diverging_epoch.epoch = decision.diverging->epoch.value();
    partition.diverging_epoch.end_offset = decision.diverging->offset.value();
  }
  if (decision.snapshot) {
    partition.snapshot_id.end_offset = decision.snapshot->offset.value();
    partition.snapshot_id.epoch = decision.snapshot->epoch.value();
  }
  partition.records = std::move(records);
  topic.partitions.push_back(std::move(partition));
  message.responses.push_back(std::move(topic));
  return message;
}

std::optional<FetchDecision> from_wire(const protocol::FetchResponse& response,
                                       std::span<const uint8_t>& records) {
  records = {};
  if (response.responses.size() != 1 || response.responses[0].partitions.size() != 1) {
    return std::nullopt;
  }
  const auto& partition = response.responses[0].partitions[0];
  FetchDecision decision;
  decision.error = error_of(partition.error_code);
  decision.epoch = Epoch(partition.current_leader.leader_epoch);
  decision.leader = leader_of(partition.current_leader.leader_id);
  decision.high_watermark = Offset(partition.high_watermark);
  if (partition.diverging_epoch.end_offset >= 0) {
    decision.diverging = LogPosition{Offset(partition.diverging_epoch.end_offset),
                                     Epoch(partition.diverging_epoch.epoch)};
  }
  if (partition.snapshot_id.end_offset >= 0 && partition.snapshot_id.epoch >= 0) {
    decision.snapshot =
        SnapshotId{Offset(partition.snapshot_id.end_offset), Epoch(partition.snapshot_id.epoch)};
  }
  if (partition.records) records = *partition.records;
  return decision;
}

protocol::FetchSnapshotRequest to_wire(const SnapshotChunkRequest& request,
                                       const std::string& cluster_id, int32_t max_bytes) {
  protocol::FetchSnapshotRequest message;
  message.cluster_id = cluster_id;
  message.replica_id = request.replica.value();
  message.max_bytes = max_bytes;
  protocol::FetchSnapshotRequest::TopicSnapshot topic;
  topic.name = metadata_topic;
  protocol::FetchSnapshotRequest::PartitionSnapshot partition;
  partition.partition = 0;
  partition.current_leader_epoch = request.current_leader_epoch.value();
  partition.snapshot_id.end_offset = request.id.offset.value();
  partition.snapshot_id.epoch = request.id.epoch.value();
  partition.position = request.position;
  topic.partitions.push_back(partition);
  message.topics.push_back(std::move(topic));
  return message;
}

std::optional<SnapshotChunkRequest> from_wire(const protocol::FetchSnapshotRequest& request) {
  if (request.topics.size() != 1 || request.topics[0].partitions.size() != 1) return std::nullopt;
  const auto& topic = request.topics[0];
  if (topic.name != metadata_topic) return std::nullopt;
  const auto& partition = topic.partitions[0];
  if (partition.partition != 0 || partition.position < 0 || partition.snapshot_id.end_offset < 0 ||
      partition.snapshot_id.epoch < 0) {
    return std::nullopt;
  }
  return SnapshotChunkRequest{
      ReplicaId(request.replica_id), Epoch(partition.current_leader_epoch),
      SnapshotId{Offset(partition.snapshot_id.end_offset), Epoch(partition.snapshot_id.epoch)},
      partition.position};
}

protocol::FetchSnapshotResponse to_wire(const SnapshotChunk& chunk, protocol::Bytes bytes) {
  protocol::FetchSnapshotResponse message;
  protocol::FetchSnapshotResponse::TopicSnapshot topic;
  topic.name = metadata_topic;
  protocol::FetchSnapshotResponse::PartitionSnapshot partition;
  partition.index = 0;
  partition.error_code = protocol::error_value(chunk.error);
  partition.snapshot_id.end_offset = chunk.id.offset.value();
  partition.snapshot_id.epoch = chunk.id.epoch.value();
  partition.current_leader.leader_id = leader_to_wire(chunk.leader);
  partition.current_leader.leader_epoch = chunk.epoch.value();
  partition.size = chunk.size;
  partition.position = chunk.position;
  partition.unaligned_records = std::move(bytes);
  topic.partitions.push_back(std::move(partition));
  message.topics.push_back(std::move(topic));
  return message;
}

std::optional<SnapshotChunk> from_wire(const protocol::FetchSnapshotResponse& response,
                                       std::span<const uint8_t>& bytes) {
  bytes = {};
  if (response.error_code != 0) {
    SnapshotChunk chunk;
    chunk.error = error_of(response.error_code);
    chunk.epoch = Epoch(-1);
    return chunk;
  }
  if (response.topics.size() != 1 || response.topics[0].partitions.size() != 1) {
    return std::nullopt;
  }
  const auto& partition = response.topics[0].partitions[0];
  SnapshotChunk chunk;
  chunk.error = error_of(partition.error_code);
  chunk.epoch = Epoch(partition.current_leader.leader_epoch);
  chunk.leader = leader_of(partition.current_leader.leader_id);
  chunk.id =
      SnapshotId{Offset(partition.snapshot_id.end_offset), Epoch(partition.snapshot_id.epoch)};
  chunk.size = partition.size;
  chunk.position = partition.position;
  if (chunk.size < 0 || chunk.position < 0) return std::nullopt;
  bytes = partition.unaligned_records;
  return chunk;
}

protocol::Bytes leader_change_batch(ReplicaId leader, const std::vector<ReplicaId>& voters,
                                    int64_t timestamp_ms) {
  // LeaderChangeMessage v0 (flexible): version int16, leader id int32, voters and
  // granting voters as compact arrays of {voter id int32, no tagged fields}, then no
  // tagged fields.
  protocol::Bytes value;
  auto put16 = [&](int16_t v) {
    value.push_back(static_cast<uint8_t>(v >> 8));
    value.push_back(static_cast<uint8_t>(v));
  };
  auto put32 = [&](int32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) value.push_back(static_cast<uint8_t>(v >> shift));
  };
  auto put_voters = [&] {
    VERIFY(voters.size() < 127);
    value.push_back(static_cast<uint8_t>(voters.size() + 1));
    for (ReplicaId voter : voters) {
      put32(voter.value());
      value.push_back(0);
    }
  };
  put16(0);
  put32(leader.value());
  put_voters();
  put_voters();
  value.push_back(0);
  return control_batch(record::ControlType::leader_change, std::move(value), record::Offset(0),
                       timestamp_ms);
}

protocol::Bytes control_batch(record::ControlType type, protocol::Bytes value,
                              record::Offset base_offset, int64_t timestamp_ms) {
  record::Record control;
  control.key = protocol::Bytes{0, 0, 0, static_cast<uint8_t>(type)};
  control.value = std::move(value);
  record::BatchOptions options;
  options.control = true;
  options.base_offset = base_offset;
  options.base_timestamp = timestamp_ms;
  return record::encode_batch(options, std::span(&control, 1));
}

}  // namespace weir::raft
