// The mapping between RaftCore's messages and Kafka's wire messages (Vote,
// BeginQuorumEpoch, EndQuorumEpoch, Fetch of __cluster_metadata-0, DescribeQuorum), so
// weir's quorum speaks KIP-595's protocol on the same codec clients use.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "protocol/messages/api.h"
#include "raft/core.h"
#include "record/batch.h"

namespace weir::raft {

// KRaft's metadata topic and its fixed topic id (Kafka's Uuid.METADATA_TOPIC_ID).
inline constexpr const char* metadata_topic = "__cluster_metadata";
protocol::Uuid metadata_topic_id();

// A request names the quorum it is for; a node answers only requests of its cluster.
protocol::VoteRequest to_wire(const VoteRequest& request, const std::string& cluster_id);
std::optional<VoteRequest> from_wire(const protocol::VoteRequest& request);
protocol::VoteResponse to_wire(const VoteResponse& response);
std::optional<VoteResponse> from_wire(const protocol::VoteResponse& response);

protocol::BeginQuorumEpochRequest to_wire(const BeginEpochRequest& request,
                                          const std::string& cluster_id);
std::optional<BeginEpochRequest> from_wire(const protocol::BeginQuorumEpochRequest& request);
protocol::BeginQuorumEpochResponse to_begin_epoch_wire(const EpochResponse& response);
std::optional<EpochResponse> from_wire(const protocol::BeginQuorumEpochResponse& response);

protocol::EndQuorumEpochRequest to_wire(const EndEpochRequest& request,
                                        const std::string& cluster_id);
std::optional<EndEpochRequest> from_wire(const protocol::EndQuorumEpochRequest& request);
protocol::EndQuorumEpochResponse to_end_epoch_wire(const EpochResponse& response);

protocol::FetchRequest to_wire(const FetchRequest& request, const std::string& cluster_id,
                               runtime::Duration max_wait, int32_t max_bytes);
std::optional<FetchRequest> from_wire(const protocol::FetchRequest& request);
// `records` are whole batches from the log (possibly none).
protocol::FetchResponse to_wire(const FetchDecision& decision, protocol::Bytes records);
// The decision and the records of a fetch response.
std::optional<FetchDecision> from_wire(const protocol::FetchResponse& response,
                                       std::span<const uint8_t>& records);

// FetchSnapshot (KIP-630): a follower behind the leader's log start downloads the
// snapshot the leader named, chunk by chunk, from `position`.
struct SnapshotChunkRequest {
  ReplicaId replica;
  Epoch current_leader_epoch;
  SnapshotId id;
  int64_t position = 0;
};
struct SnapshotChunk {
  protocol::ErrorCode error = protocol::ErrorCode::none;
  Epoch epoch;
  std::optional<ReplicaId> leader;
  SnapshotId id;
  int64_t size = 0;      // of the whole snapshot file
  int64_t position = 0;  // of this chunk's first byte
};
protocol::FetchSnapshotRequest to_wire(const SnapshotChunkRequest& request,
                                       const std::string& cluster_id, int32_t max_bytes);
std::optional<SnapshotChunkRequest> from_wire(const protocol::FetchSnapshotRequest& request);
protocol::FetchSnapshotResponse to_wire(const SnapshotChunk& chunk, protocol::Bytes bytes);
std::optional<SnapshotChunk> from_wire(const protocol::FetchSnapshotResponse& response,
                                       std::span<const uint8_t>& bytes);

// A control batch of one record: the key names `type` (key version 0), `value` is the
// control record's body. LeaderChange entries and snapshot headers and footers.
protocol::Bytes control_batch(record::ControlType type, protocol::Bytes value,
                              record::Offset base_offset, int64_t timestamp_ms);

// The first entry of every epoch: a LeaderChange control batch (KIP-595), one record
// whose key is the control type and whose value names the leader and the voters.
protocol::Bytes leader_change_batch(ReplicaId leader, const std::vector<ReplicaId>& voters,
                                    int64_t timestamp_ms);

}  // namespace weir::raft
