// MetadataState: the state machine of the __cluster_metadata log. Applying the
// committed records in log order yields the Image every broker and controller serves;
// every node that applied the same records holds an equal Image (and digest).
//
// apply() checks that a record fits the state before changing anything: a record that
// does not fit (a partition of an unknown topic, a fence of a broker epoch that is not
// the registered one) is refused with a message and the state is unchanged. A
// committed log never holds such a record unless a controller is wrong, so the caller
// treats a refusal of a committed record as a fatal bug; the controller uses it to
// check the records it generates before proposing them.
//
// Not kept, and refused when present: partition reassignment (adding/removing
// replicas). Ignored: log directory assignments and eligible leader replicas, which
// weir does not use (their records still decode).
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "metadata/image.h"
#include "metadata/records.h"

namespace weir::metadata {

// The records that rebuild `image` from an empty state, in an order MetadataState
// applies: features, brokers, topics each followed by its partitions, configs, the
// producer id block. A metadata snapshot holds exactly these (Kafka's snapshots hold
// the same kinds of records); applying them yields an equal Image.
std::vector<Record> image_records(const Image& image);

class MetadataState {
 public:
  MetadataState() = default;

  Result<void, std::string> apply(const Record& record);
  // Applies in order; stops at the first refusal (earlier records stay applied).
  Result<void, std::string> apply_all(std::span<const Record> records);

  const Image& image() const { return image_; }
  uint64_t digest() const { return image_.digest(); }

 private:
  Result<void, std::string> apply_one(const RegisterBrokerRecord& record);
  Result<void, std::string> apply_one(const UnregisterBrokerRecord& record);
  Result<void, std::string> apply_one(const TopicRecord& record);
  Result<void, std::string> apply_one(const PartitionRecord& record);
  Result<void, std::string> apply_one(const ConfigRecord& record);
  Result<void, std::string> apply_one(const PartitionChangeRecord& record);
  Result<void, std::string> apply_one(const FenceBrokerRecord& record);
  Result<void, std::string> apply_one(const UnfenceBrokerRecord& record);
  Result<void, std::string> apply_one(const RemoveTopicRecord& record);
  Result<void, std::string> apply_one(const FeatureLevelRecord& record);
  Result<void, std::string> apply_one(const ProducerIdsRecord& record);
  Result<void, std::string> apply_one(const BrokerRegistrationChangeRecord& record);
  Result<void, std::string> apply_one(const NoOpRecord& record);

  // The topic, copied first if another Image still shares it (copy-on-write).
  TopicImage& mutable_topic(TopicId id);
  // The registration, if `id` is registered with exactly `epoch`, else a message.
  Result<BrokerRegistration*, std::string> registered(BrokerId id, BrokerEpoch epoch,
                                                      std::string_view what);

  Image image_;
};

}  // namespace weir::metadata
