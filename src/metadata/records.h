// The records of the __cluster_metadata log, in Kafka's own format, so that a Kafka
// tool reading weir's metadata log (kafka-metadata-shell, kafka-dump-log) sees what
// it would see on a Kafka 4.0 controller.
//
// A metadata record is the value of a v2-batch record whose key is null. The value is
// Kafka's ApiMessageAndVersion framing (MetadataRecordSerde):
//
//   unsigned varint  frame version (always 1)
//   unsigned varint  record type (the "api key" of the record's schema)
//   unsigned varint  record version
//   body             the record's fields, flexible encoding (compact strings and
//                    arrays, a tagged-field section at the end)
//
// Each record is encoded at the version Kafka 4.0 writes at metadata.version 4.0-IV3
// (kMetadataVersionLevel) and decoded at any version Kafka defines for it. One
// function per record, never one per version: presence of a field is a comparison
// with the version, as in protocol/. Tagged fields are written only when they differ
// from their default (as Kafka does); unknown tags are skipped on decode.
//
// Decoders take untrusted bytes: they fail with a DecodeError, never crash, and
// allocate at most a constant multiple of the input's size.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"
#include "metadata/types.h"
#include "protocol/wire.h"
#include "record/types.h"

namespace weir::metadata {

// Kafka's DirectoryId.UNASSIGNED, written for each replica of a new partition.
Uuid unassigned_directory();

// PartitionChangeRecord.leader: the leader did not change.
inline constexpr BrokerId kLeaderUnchanged{-2};

struct BrokerEndpoint {
  std::string name;  // listener name
  std::string host;
  uint16_t port = 0;
  int16_t security_protocol = 0;  // Kafka's SecurityProtocol id: 0 PLAINTEXT, 1 SSL, ...
  bool operator==(const BrokerEndpoint&) const = default;
};

struct BrokerFeature {
  std::string name;
  int16_t min_supported_version = 0;
  int16_t max_supported_version = 0;
  bool operator==(const BrokerFeature&) const = default;
};

// Type 0, written at v3. Registers (or re-registers) a broker; its epoch is the
// offset of this record in the metadata log.
struct RegisterBrokerRecord {
  static constexpr uint16_t kType = 0;
  static constexpr uint16_t kVersion = 3;
  static constexpr uint16_t kVersionMax = 3;
  BrokerId broker_id{0};
  bool is_migrating_zk_broker = false;  // v2+
  Uuid incarnation_id;
  BrokerEpoch broker_epoch{0};
  std::vector<BrokerEndpoint> endpoints;
  std::vector<BrokerFeature> features;
  std::optional<std::string> rack;
  bool fenced = true;
  bool in_controlled_shutdown = false;  // v1+
  std::vector<Uuid> log_dirs;           // v3+, tag 0
  bool operator==(const RegisterBrokerRecord&) const = default;
};

// Type 1, v0.
struct UnregisterBrokerRecord {
  static constexpr uint16_t kType = 1;
  static constexpr uint16_t kVersion = 0;
  static constexpr uint16_t kVersionMax = 0;
  BrokerId broker_id{0};
  BrokerEpoch broker_epoch{0};
  bool operator==(const UnregisterBrokerRecord&) const = default;
};

// Type 2, v0. Creates a topic with no partitions; PartitionRecords follow.
struct TopicRecord {
  static constexpr uint16_t kType = 2;
  static constexpr uint16_t kVersion = 0;
  static constexpr uint16_t kVersionMax = 0;
  std::string name;
  TopicId topic_id;
  bool operator==(const TopicRecord&) const = default;
};

// Type 3, written at v2 (with no eligible leader replicas, v2's bytes are v1's).
// Creates a partition, or replaces it whole.
struct PartitionRecord {
  static constexpr uint16_t kType = 3;
  static constexpr uint16_t kVersion = 2;
  static constexpr uint16_t kVersionMax = 2;
  PartitionId partition_id{-1};
  TopicId topic_id;
  std::vector<BrokerId> replicas;
  std::vector<BrokerId> isr;
  std::vector<BrokerId> removing_replicas;
  std::vector<BrokerId> adding_replicas;
  BrokerId leader = kNoLeader;
  int8_t leader_recovery_state = 0;  // tag 0; 1: recovering from an unclean election
  LeaderEpoch leader_epoch{-1};
  PartitionEpoch partition_epoch{-1};
  std::vector<Uuid> directories;                                  // v1+, one per replica
  std::optional<std::vector<BrokerId>> eligible_leader_replicas;  // v2+, tag 1
  std::optional<std::vector<BrokerId>> last_known_elr;            // v2+, tag 2
  bool operator==(const PartitionRecord&) const = default;
};

// ConfigRecord, type 4, v0. A null value deletes the key.
struct ConfigRecord {
  static constexpr uint16_t kType = 4;
  static constexpr uint16_t kVersion = 0;
  static constexpr uint16_t kVersionMax = 0;
  ConfigResourceType resource_type = ConfigResourceType::topic;
  std::string resource_name;
  std::string name;
  std::optional<std::string> value;
  bool operator==(const ConfigRecord&) const = default;
};

// Type 5, written at v2. Every field but the ids is optional: absent (null, or -2 for
// the leader, -1 for the recovery state) means unchanged. Applying it bumps the
// partition epoch, and the leader epoch when `leader` is present.
struct PartitionChangeRecord {
  static constexpr uint16_t kType = 5;
  static constexpr uint16_t kVersion = 2;
  static constexpr uint16_t kVersionMax = 2;
  PartitionId partition_id{-1};
  TopicId topic_id;
  std::optional<std::vector<BrokerId>> isr;                       // tag 0
  BrokerId leader = kLeaderUnchanged;                             // tag 1
  std::optional<std::vector<BrokerId>> replicas;                  // tag 2
  std::optional<std::vector<BrokerId>> removing_replicas;         // tag 3
  std::optional<std::vector<BrokerId>> adding_replicas;           // tag 4
  int8_t leader_recovery_state = -1;                              // tag 5
  std::optional<std::vector<BrokerId>> eligible_leader_replicas;  // v2+, tag 6
  std::optional<std::vector<BrokerId>> last_known_elr;            // v2+, tag 7
  std::optional<std::vector<Uuid>> directories;                   // v1+, tag 8
  bool operator==(const PartitionChangeRecord&) const = default;
};

// Type 7, v0.
struct FenceBrokerRecord {
  static constexpr uint16_t kType = 7;
  static constexpr uint16_t kVersion = 0;
  static constexpr uint16_t kVersionMax = 0;
  BrokerId broker_id{0};
  BrokerEpoch broker_epoch{0};
  bool operator==(const FenceBrokerRecord&) const = default;
};

// Type 8, v0.
struct UnfenceBrokerRecord {
  static constexpr uint16_t kType = 8;
  static constexpr uint16_t kVersion = 0;
  static constexpr uint16_t kVersionMax = 0;
  BrokerId broker_id{0};
  BrokerEpoch broker_epoch{0};
  bool operator==(const UnfenceBrokerRecord&) const = default;
};

// Type 9, v0. Removes the topic, its partitions and its configs.
struct RemoveTopicRecord {
  static constexpr uint16_t kType = 9;
  static constexpr uint16_t kVersion = 0;
  static constexpr uint16_t kVersionMax = 0;
  TopicId topic_id;
  bool operator==(const RemoveTopicRecord&) const = default;
};

// Type 12, v0 (Kafka never advances it: a log begins with one). Level 0 removes the
// feature.
struct FeatureLevelRecord {
  static constexpr uint16_t kType = 12;
  static constexpr uint16_t kVersion = 0;
  static constexpr uint16_t kVersionMax = 0;
  std::string name;
  int16_t feature_level = 0;
  bool operator==(const FeatureLevelRecord&) const = default;
};

// Type 15, v0. The block [previous next_producer_id, next_producer_id) went to the
// broker.
struct ProducerIdsRecord {
  static constexpr uint16_t kType = 15;
  static constexpr uint16_t kVersion = 0;
  static constexpr uint16_t kVersionMax = 0;
  BrokerId broker_id{0};
  BrokerEpoch broker_epoch{-1};
  ProducerId next_producer_id{0};
  bool operator==(const ProducerIdsRecord&) const = default;
};

// Type 17, written at v2.
struct BrokerRegistrationChangeRecord {
  static constexpr uint16_t kType = 17;
  static constexpr uint16_t kVersion = 2;
  static constexpr uint16_t kVersionMax = 2;
  BrokerId broker_id{0};
  BrokerEpoch broker_epoch{0};
  int8_t fenced = 0;                  // tag 0: -1 unfenced, 0 no change, 1 fenced
  int8_t in_controlled_shutdown = 0;  // v1+, tag 1: 0 no change, 1 entered
  std::vector<Uuid> log_dirs;         // v2+, tag 2
  bool operator==(const BrokerRegistrationChangeRecord&) const = default;
};

// Type 20, v0. Written by an idle controller so that followers see the log advance.
struct NoOpRecord {
  static constexpr uint16_t kType = 20;
  static constexpr uint16_t kVersion = 0;
  static constexpr uint16_t kVersionMax = 0;
  bool operator==(const NoOpRecord&) const = default;
};

using Record = std::variant<RegisterBrokerRecord, UnregisterBrokerRecord, TopicRecord,
                            PartitionRecord, ConfigRecord, PartitionChangeRecord, FenceBrokerRecord,
                            UnfenceBrokerRecord, RemoveTopicRecord, FeatureLevelRecord,
                            ProducerIdsRecord, BrokerRegistrationChangeRecord, NoOpRecord>;

// The record's Kafka type number and its name ("PartitionChangeRecord").
uint16_t record_type(const Record& record);
std::string_view record_name(const Record& record);

// Appends the framed record (frame version, type, version, body) to `out`.
void encode_record(const Record& record, Bytes& out);
Bytes encode_record(const Record& record);

// Decodes one framed record that fills `bytes` exactly. Fails with
// unsupported_version for a frame version other than 1 or a record version Kafka
// does not define, unknown_api_key for a record type weir does not implement,
// trailing_bytes when the record ends early.
protocol::Result<Record> decode_record(std::span<const uint8_t> bytes);

// ---- batches ---------------------------------------------------------------------

// One uncompressed v2 batch holding the records as values with null keys: base
// offset 0 (the log assigns it), producer id -1, create time `timestamp_ms`. The
// records are one atomic unit of the metadata log.
Bytes encode_batch(std::span<const Record> records, int64_t timestamp_ms = 0);

// Why a batch did not decode: the batch framing, or one record's value.
struct BatchDecodeError {
  std::optional<record::RecordError> batch;  // set when the batch itself is bad
  protocol::DecodeError value = protocol::DecodeError::none;
  bool null_value = false;  // a metadata record with a null value
  std::string describe() const;
};

// A record and the log offset it sits at.
struct LogEntry {
  record::Offset offset{0};
  Record record;
  bool operator==(const LogEntry&) const = default;
};

// Decodes one or more batches back to back (a log segment's bytes, a Fetch's
// records). Control batches (LeaderChange, snapshot markers, KRaft voters) are
// skipped. Any bad batch or record fails the whole call.
weir::Result<std::vector<Record>, BatchDecodeError> decode_batch(std::span<const uint8_t> batches);
// As decode_batch, with each record's offset (base offset + offset delta).
weir::Result<std::vector<LogEntry>, BatchDecodeError> decode_batch_entries(
    std::span<const uint8_t> batches);

}  // namespace weir::metadata
