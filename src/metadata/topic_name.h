// Kafka's rules for a topic's name, stated once: the controller refuses a creation that
// breaks them (INVALID_TOPIC_EXCEPTION), a broker answers Metadata for such a name
// without asking the controller, and a node recognises partition directories by them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace weir::metadata {

// The metadata log's own topic (its directory shares the data root).
inline constexpr std::string_view kMetadataTopic = "__cluster_metadata";
inline constexpr size_t kTopicNameLengthMax = 249;

// Kafka's internal topics (Topic.isInternal): written only by the broker's own
// coordinators, never by a client's Produce.
inline constexpr std::string_view kConsumerOffsetsTopic = "__consumer_offsets";
inline constexpr std::string_view kTransactionStateTopic = "__transaction_state";
inline bool is_internal_topic(std::string_view name) {
  return name == kConsumerOffsetsTopic || name == kTransactionStateTopic;
}

// Why `name` may not name a topic, in Kafka's words; nothing when it may: 1-249
// characters of [a-zA-Z0-9._-], not "." or "..", not the metadata log's.
std::optional<std::string> invalid_topic_name_reason(std::string_view name);

}  // namespace weir::metadata
