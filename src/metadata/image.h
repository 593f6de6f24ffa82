// Image: the cluster metadata as of one offset of the metadata log — brokers, topics
// and their partitions, configs, the next producer id block, feature levels. Built only
// by MetadataState::apply (metadata/state.h); everyone else reads it.
//
// A value type: copying an Image is cheap and never shares mutable state. Topics are
// held copy-on-write (shared, immutable once published), so a copy costs one pointer
// per topic, not one entry per partition; a change to a partition copies only its
// topic. Everything observable is ordered (btree maps, sorted vectors): iteration never
// depends on hashing or insertion order, so equal images iterate identically and have
// equal digests on every node.
//
// Invariants (kept by MetadataState):
// - topic names and ids are unique, and the two indexes name the same topics;
// - a topic's partitions are numbered 0..n-1 and stored at their index;
// - a partition's leader is kNoLeader or one of its replicas; its isr is a subset of
//   its replicas; its elr too, disjoint from the isr.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/btree_map.h>
#include <absl/container/inlined_vector.h>

#include "metadata/records.h"
#include "metadata/types.h"

namespace weir::metadata {

struct BrokerRegistration {
  BrokerId id{0};
  BrokerEpoch epoch{0};
  Uuid incarnation_id;
  std::vector<BrokerEndpoint> endpoints;  // as registered, listener names unique
  std::vector<BrokerFeature> features;
  std::optional<std::string> rack;
  bool fenced = true;
  bool in_controlled_shutdown = false;

  // May lead partitions and receive new replicas: unfenced and not shutting down.
  bool is_active() const { return !fenced && !in_controlled_shutdown; }
  const BrokerEndpoint* endpoint(std::string_view listener_name) const;
  bool operator==(const BrokerRegistration&) const = default;
};

// Replication factors are small: three replicas live inline, without a heap block.
using ReplicaList = absl::InlinedVector<BrokerId, 3>;

struct PartitionState {
  ReplicaList replicas;  // preferred order; replicas[0] is the preferred leader
  ReplicaList isr;
  BrokerId leader = kNoLeader;
  LeaderEpoch leader_epoch{0};
  PartitionEpoch partition_epoch{0};
  // 1 while recovering from an unclean election (Kafka's LeaderRecoveryState).
  int8_t leader_recovery_state = 0;
  // KIP-966 (with eligible.leader.replicas.version >= 1): replicas out of the ISR that
  // still hold everything below the high watermark — they left an ISR already smaller
  // than min.insync.replicas, under which the high watermark does not move — so one may
  // lead cleanly when the ISR is empty. Disjoint from the ISR. `last_known_elr` keeps
  // the last leader once ISR and ELR are both empty (Kafka's "last known leader"): it
  // may lead again when it returns, as the last ISR member could before KIP-966.
  ReplicaList elr;
  ReplicaList last_known_elr;
  // A reassignment in progress (Kafka's): `replicas` is the target followed by
  // `removing`; `adding` are target replicas still catching up. It completes once the
  // ISR holds every target replica: the removing ones then leave.
  ReplicaList adding;
  ReplicaList removing;

  bool has_leader() const { return leader != kNoLeader; }
  bool in_isr(BrokerId broker) const;
  bool in_elr(BrokerId broker) const;
  bool reassigning() const { return !adding.empty() || !removing.empty(); }
  bool is_adding(BrokerId broker) const;
  bool is_replica(BrokerId broker) const;
  bool operator==(const PartitionState&) const = default;
};

struct TopicImage {
  TopicId id;
  std::string name;
  std::vector<PartitionState> partitions;  // partitions[i] is partition i
  bool operator==(const TopicImage&) const = default;
};

struct ConfigResource {
  ConfigResourceType type = ConfigResourceType::topic;
  std::string name;  // "" for a broker resource: the cluster-wide default
  auto operator<=>(const ConfigResource&) const = default;
  bool operator==(const ConfigResource&) const = default;
};

using ConfigMap = absl::btree_map<std::string, std::string>;

class Image {
 public:
  using BrokerMap = absl::btree_map<BrokerId, BrokerRegistration>;
  using TopicMap = absl::btree_map<TopicId, std::shared_ptr<const TopicImage>>;
  using TopicNameMap = absl::btree_map<std::string, TopicId, std::less<>>;
  using ConfigResourceMap = absl::btree_map<ConfigResource, ConfigMap>;

  // ---- brokers ----
  const BrokerMap& brokers() const { return brokers_; }
  const BrokerRegistration* broker(BrokerId id) const;
  // Registered and unfenced brokers, ascending id (they may be in controlled shutdown).
  std::vector<BrokerId> live_brokers() const;
  // Unfenced and not in controlled shutdown, ascending id: where leaders may go.
  std::vector<BrokerId> active_brokers() const;
  // The broker's endpoint for a listener, if it is registered and has one.
  std::optional<BrokerEndpoint> broker_endpoint(BrokerId id, std::string_view listener) const;

  // ---- topics ----
  const TopicMap& topics() const { return topics_; }                // by id
  const TopicNameMap& topic_names() const { return topic_names_; }  // name -> id
  const TopicImage* topic(TopicId id) const;
  const TopicImage* topic(std::string_view name) const;
  const PartitionState* partition(TopicId id, PartitionId partition) const;
  size_t topic_count() const { return topics_.size(); }
  size_t partition_count() const { return partition_count_; }

  // ---- configs ----
  const ConfigResourceMap& configs() const { return configs_; }
  // The overrides of one resource (empty when none).
  const ConfigMap& config(ConfigResourceType type, std::string_view name) const;
  const ConfigMap& topic_config(std::string_view topic_name) const {
    return config(ConfigResourceType::topic, topic_name);
  }

  // ---- producer ids and features ----
  // The first id of the next block AllocateProducerIds hands out.
  ProducerId next_producer_id() const { return next_producer_id_; }
  const absl::btree_map<std::string, int16_t, std::less<>>& features() const { return features_; }
  // 0 when the log has not set it yet.
  int16_t metadata_version() const;
  // A feature's finalized level; 0 when the log never set it.
  int16_t feature_level(std::string_view name) const;
  // KIP-966: the controller keeps eligible leader replicas.
  bool eligible_leader_replicas_enabled() const;

  // A 64-bit digest of the whole image over a canonical ordered encoding: equal images
  // have equal digests in every process (no pointers, no hash seeds). O(size).
  uint64_t digest() const;

  // Deep equality (topics compared by value, not by pointer).
  bool operator==(const Image& other) const;

 private:
  friend class MetadataState;

  BrokerMap brokers_;
  TopicMap topics_;
  TopicNameMap topic_names_;
  ConfigResourceMap configs_;
  absl::btree_map<std::string, int16_t, std::less<>> features_;
  ProducerId next_producer_id_{0};
  size_t partition_count_ = 0;
};

}  // namespace weir::metadata
