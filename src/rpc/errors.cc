#include "rpc/errors.h"

namespace weir::rpc {

using protocol::ErrorCode;

std::string_view error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kafka: return "kafka";
    case ErrorKind::connect_failed: return "connect_failed";
    case ErrorKind::disconnected: return "disconnected";
    case ErrorKind::timed_out: return "timed_out";
    case ErrorKind::malformed_response: return "malformed_response";
    case ErrorKind::unsupported: return "unsupported";
    case ErrorKind::invalid_argument: return "invalid_argument";
    case ErrorKind::closed: return "closed";
  }
  return "unknown";
}

bool Error::retriable() const {
  switch (kind) {
    case ErrorKind::connect_failed:
    case ErrorKind::disconnected:
    case ErrorKind::timed_out: return true;
    case ErrorKind::kafka: break;
    default: return false;
  }
  // Kafka's RetriableException subclasses, as the Java client classifies them.
  switch (code) {
    case ErrorCode::corrupt_message:
    case ErrorCode::unknown_topic_or_partition:
    case ErrorCode::leader_not_available:
    case ErrorCode::not_leader_or_follower:
    case ErrorCode::request_timed_out:
    case ErrorCode::network_exception:
    case ErrorCode::not_enough_replicas:
    case ErrorCode::not_enough_replicas_after_append:
    case ErrorCode::kafka_storage_error:
    case ErrorCode::not_controller:
    case ErrorCode::coordinator_load_in_progress:
    case ErrorCode::coordinator_not_available:
    case ErrorCode::not_coordinator:
    case ErrorCode::concurrent_transactions:
    case ErrorCode::offset_not_available: return true;
    default: break;
  }
  return code == ErrorCode::fenced_leader_epoch || code == ErrorCode::unknown_leader_epoch ||
         code == ErrorCode::throttling_quota_exceeded;
}

bool Error::needs_metadata_refresh() const {
  if (kind == ErrorKind::disconnected || kind == ErrorKind::connect_failed) return true;
  if (kind != ErrorKind::kafka) return false;
  return code == ErrorCode::unknown_topic_or_partition || code == ErrorCode::leader_not_available ||
         code == ErrorCode::not_leader_or_follower || code == ErrorCode::kafka_storage_error ||
         code == ErrorCode::fenced_leader_epoch || code == ErrorCode::unknown_leader_epoch;
}

std::string Error::to_string() const {
  std::string text;
  if (kind == ErrorKind::kafka) {
    text = fmt::format("{} ({})", protocol::error_name(code), static_cast<int16_t>(code));
  } else {
    text = std::string(error_kind_name(kind));
  }
  if (!message.empty()) text += ": " + message;
  return text;
}

}  // namespace weir::rpc
