#include "client/consumer_protocol.h"

#include <algorithm>

#include "base/assert.h"

namespace weir::client {

namespace {

// Big-endian writer of the non-flexible Kafka primitives.
class Writer {
 public:
  void i16(int16_t v) { put(static_cast<uint16_t>(v), 2); }
  void i32(int32_t v) { put(static_cast<uint32_t>(v), 4); }
  void string(std::string_view s) {
    VERIFY(s.size() <= INT16_MAX, "a protocol string fits int16 length");
    i16(static_cast<int16_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
  }
  void nullable_string(const std::optional<std::string>& s) {
    if (s) {
      string(*s);
    } else {
      i16(-1);
    }
  }
  void nullable_bytes(const std::optional<ProtocolBytes>& b) {
    if (!b) {
      i32(-1);
      return;
    }
    i32(static_cast<int32_t>(b->size()));
    out.insert(out.end(), b->begin(), b->end());
  }
  // Topic-grouped partitions: [topic string, [partition int32]], in sorted order.
  void topic_partitions(std::vector<TopicPartition> partitions) {
    std::sort(partitions.begin(), partitions.end());
    absl::btree_map<std::string, std::vector<int32_t>> by_topic;
    for (const TopicPartition& tp : partitions) by_topic[tp.topic].push_back(tp.partition);
    i32(static_cast<int32_t>(by_topic.size()));
    for (const auto& [topic, indexes] : by_topic) {
      string(topic);
      i32(static_cast<int32_t>(indexes.size()));
      for (int32_t index : indexes) i32(index);
    }
  }
  ProtocolBytes out;

 private:
  void put(uint32_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; i--) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  bool at_end() const { return bytes_.empty(); }
  std::optional<ProtocolDecodeError> error;

  int16_t i16() { return static_cast<int16_t>(get(2)); }
  int32_t i32() { return static_cast<int32_t>(get(4)); }
  std::optional<std::string> nullable_string() {
    const int16_t length = i16();
    if (error) return std::nullopt;
    if (length == -1) return std::nullopt;
    if (length < 0) return fail(ProtocolDecodeError::invalid_length), std::nullopt;
    auto span = take(static_cast<size_t>(length));
    return std::string(span.begin(), span.end());
  }
  std::string string() {
    const int16_t length = i16();
    if (error) return {};
    if (length < 0) return fail(ProtocolDecodeError::invalid_length), std::string();
    auto span = take(static_cast<size_t>(length));
    return std::string(span.begin(), span.end());
  }
  std::optional<ProtocolBytes> nullable_bytes() {
    const int32_t length = i32();
    if (error || length == -1) return std::nullopt;
    if (length < 0) return fail(ProtocolDecodeError::invalid_length), std::nullopt;
    auto span = take(static_cast<size_t>(length));
    return ProtocolBytes(span.begin(), span.end());
  }
  // An array length, bounded by the bytes left (each element takes at least
  // `element_bytes_min`), so a hostile count cannot make us allocate.
  size_t array_length(size_t element_bytes_min) {
    const int32_t length = i32();
    if (error) return 0;
    if (length < 0) return fail(ProtocolDecodeError::invalid_length), 0;
    if (static_cast<size_t>(length) * element_bytes_min > bytes_.size()) {
      fail(ProtocolDecodeError::truncated);
      return 0;
    }
    return static_cast<size_t>(length);
  }
  std::vector<TopicPartition> topic_partitions() {
    std::vector<TopicPartition> out;
    const size_t topics = array_length(6);
    for (size_t t = 0; t < topics && !error; t++) {
      std::string topic = string();
      const size_t count = array_length(4);
      for (size_t p = 0; p < count && !error; p++) out.push_back(TopicPartition{topic, i32()});
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  void fail(ProtocolDecodeError e) {
    if (!error) error = e;
    bytes_ = {};
  }
  std::span<const uint8_t> take(size_t n) {
    if (error) return {};
    if (n > bytes_.size()) {
      fail(ProtocolDecodeError::truncated);
      return {};
    }
    auto span = bytes_.first(n);
    bytes_ = bytes_.subspan(n);
    return span;
  }
  uint32_t get(size_t n) {
    auto span = take(n);
    if (span.size() != n) return 0;
    uint32_t v = 0;
    for (uint8_t b : span) v = (v << 8) | b;
    return v;
  }
  std::span<const uint8_t> bytes_;
};

// Kafka's MemberInfo order: static members by instance id, then dynamic ones by id.
bool member_before(const AssignorMember& a, const AssignorMember& b) {
  if (a.group_instance_id && b.group_instance_id) {
    if (*a.group_instance_id != *b.group_instance_id) {
      return *a.group_instance_id < *b.group_instance_id;
    }
    return a.member_id < b.member_id;
  }
  if (a.group_instance_id.has_value() != b.group_instance_id.has_value()) {
    return a.group_instance_id.has_value();
  }
  return a.member_id < b.member_id;
}

std::vector<const AssignorMember*> ordered(const std::vector<AssignorMember>& members) {
  std::vector<const AssignorMember*> out;
  for (const AssignorMember& member : members) out.push_back(&member);
  std::sort(out.begin(), out.end(),
            [](const AssignorMember* a, const AssignorMember* b) { return member_before(*a, *b); });
  return out;
}

bool subscribes(const AssignorMember& member, const std::string& topic) {
  const auto& topics = member.subscription.topics;
  return std::find(topics.begin(), topics.end(), topic) != topics.end();
}

GroupAssignment empty_assignment(const std::vector<AssignorMember>& members) {
  GroupAssignment out;
  for (const AssignorMember& member : members) out[member.member_id] = Assignment{};
  return out;
}

// The subscribed topics that have metadata, in name order.
std::vector<std::string> subscribed_topics(const std::vector<AssignorMember>& members,
                                           const PartitionCounts& partitions) {
  std::vector<std::string> topics;
  for (const auto& [topic, count] : partitions) {
    if (count <= 0) continue;
    for (const AssignorMember& member : members) {
      if (subscribes(member, topic)) {
        topics.push_back(topic);
        break;
      }
    }
  }
  return topics;
}

}  // namespace

std::string_view protocol_decode_error_name(ProtocolDecodeError error) {
  switch (error) {
    case ProtocolDecodeError::truncated: return "truncated";
    case ProtocolDecodeError::invalid_length: return "invalid length";
    case ProtocolDecodeError::negative_version: return "negative version";
  }
  return "unknown";
}

ProtocolBytes encode_subscription(const Subscription& subscription, int16_t version) {
  VERIFY(version >= 0 && version <= 3, "ConsumerProtocolSubscription versions 0-3");
  Writer w;
  w.i16(version);
  w.i32(static_cast<int32_t>(subscription.topics.size()));
  for (const std::string& topic : subscription.topics) w.string(topic);
  w.nullable_bytes(subscription.user_data);
  if (version >= 1) w.topic_partitions(subscription.owned_partitions);
  if (version >= 2) w.i32(subscription.generation);
  if (version >= 3) w.nullable_string(subscription.rack);
  return std::move(w.out);
}

weir::Result<Subscription, ProtocolDecodeError> decode_subscription(
    std::span<const uint8_t> bytes) {
  Reader r(bytes);
  const int16_t version = r.i16();
  if (r.error) return unexpected(*r.error);
  if (version < 0) return unexpected(ProtocolDecodeError::negative_version);
  Subscription out;
  const size_t topics = r.array_length(2);
  for (size_t i = 0; i < topics && !r.error; i++) out.topics.push_back(r.string());
  out.user_data = r.nullable_bytes();
  // Kafka's own reader tolerates a v0 body under a higher version number when the
  // optional tail is absent (old librdkafka did that), so missing tails are defaults.
  if (version >= 1 && !r.error && !r.at_end()) out.owned_partitions = r.topic_partitions();
  if (version >= 2 && !r.error && !r.at_end()) out.generation = r.i32();
  if (version >= 3 && !r.error && !r.at_end()) out.rack = r.nullable_string();
  if (r.error) return unexpected(*r.error);
  return out;
}

ProtocolBytes encode_assignment(const Assignment& assignment, int16_t version) {
  VERIFY(version >= 0 && version <= 3, "ConsumerProtocolAssignment versions 0-3");
  Writer w;
  w.i16(version);
  w.topic_partitions(assignment.partitions);
  w.nullable_bytes(assignment.user_data);
  return std::move(w.out);
}

weir::Result<Assignment, ProtocolDecodeError> decode_assignment(std::span<const uint8_t> bytes) {
  Reader r(bytes);
  const int16_t version = r.i16();
  if (r.error) return unexpected(*r.error);
  if (version < 0) return unexpected(ProtocolDecodeError::negative_version);
  Assignment out;
  out.partitions = r.topic_partitions();
  // user_data is absent in some clients' empty assignments; treat a missing tail as null.
  if (!r.error && !r.at_end()) out.user_data = r.nullable_bytes();
  if (r.error) return unexpected(*r.error);
  return out;
}

std::string_view assignor_name(AssignorKind kind) {
  return kind == AssignorKind::range ? "range" : "roundrobin";
}

std::optional<AssignorKind> assignor_from_name(std::string_view name) {
  if (name == "range") return AssignorKind::range;
  if (name == "roundrobin") return AssignorKind::roundrobin;
  return std::nullopt;
}

GroupAssignment assign_range(const std::vector<AssignorMember>& members,
                             const PartitionCounts& partitions) {
  GroupAssignment out = empty_assignment(members);
  const std::vector<const AssignorMember*> order = ordered(members);
  for (const std::string& topic : subscribed_topics(members, partitions)) {
    std::vector<const AssignorMember*> subscribers;
    for (const AssignorMember* member : order) {
      if (subscribes(*member, topic)) subscribers.push_back(member);
    }
    VERIFY(!subscribers.empty());
    const int32_t count = partitions.at(topic);
    const auto n = static_cast<int32_t>(subscribers.size());
    const int32_t each = count / n;
    const int32_t extra = count % n;
    int32_t next = 0;
    for (int32_t i = 0; i < n; i++) {
      const int32_t take = each + (i < extra ? 1 : 0);
      auto& assigned = out[subscribers[i]->member_id].partitions;
      for (int32_t p = next; p < next + take; p++) assigned.push_back(TopicPartition{topic, p});
      next += take;
    }
    VERIFY(next == count, "range hands out every partition once");
  }
  for (auto& [member, assignment] : out) {
    std::sort(assignment.partitions.begin(), assignment.partitions.end());
  }
  return out;
}

GroupAssignment assign_roundrobin(const std::vector<AssignorMember>& members,
                                  const PartitionCounts& partitions) {
  GroupAssignment out = empty_assignment(members);
  const std::vector<const AssignorMember*> order = ordered(members);
  if (order.empty()) return out;
  size_t next = 0;
  for (const std::string& topic : subscribed_topics(members, partitions)) {
    for (int32_t p = 0; p < partitions.at(topic); p++) {
      // Deal to the next member in the circle that subscribes to this topic; one does,
      // or the topic would not be in the list.
      for (size_t tried = 0; tried < order.size(); tried++) {
        const AssignorMember* member = order[next % order.size()];
        next++;
        if (subscribes(*member, topic)) {
          out[member->member_id].partitions.push_back(TopicPartition{topic, p});
          break;
        }
      }
    }
  }
  for (auto& [member, assignment] : out) {
    std::sort(assignment.partitions.begin(), assignment.partitions.end());
  }
  return out;
}

GroupAssignment assign(AssignorKind kind, const std::vector<AssignorMember>& members,
                       const PartitionCounts& partitions) {
  return kind == AssignorKind::range ? assign_range(members, partitions)
                                     : assign_roundrobin(members, partitions);
}

}  // namespace weir::client
