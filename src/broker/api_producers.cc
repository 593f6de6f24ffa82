// InitProducerId (ids from blocks the controller allocates) and FindCoordinator.
#include "broker/broker.h"

namespace weir::broker {

using protocol::error_value;
using protocol::ErrorCode;

protocol::ResponseBody Broker::init_producer_id(const protocol::InitProducerIdRequest& request) {
  protocol::InitProducerIdResponse response;
  if (request.transactional_id) {
    // Transactions come with the transaction coordinator (a later issue); weir does not
    // advertise a transaction coordinator yet, so a transactional client stops before this.
    response.error_code = error_value(ErrorCode::invalid_request);
    return response;
  }
  // An idempotent producer gets a fresh id at epoch 0 every time, also when it asks to
  // bump the epoch of the id it has (KIP-360): as in Kafka, only transactional ids keep
  // their producer id across epochs. Ids come from the controller's blocks, unique
  // across brokers: another broker's producer may write to the same partitions.
  auto id = allocate_producer_id();
  if (!id) {
    response.error_code = error_value(ErrorCode::coordinator_not_available);
    return response;
  }
  response.producer_id = *id;
  response.producer_epoch = 0;
  return response;
}

std::optional<int64_t> Broker::allocate_producer_id() {
  runtime::MutexGuard guard(producer_block_mutex_);
  if (producer_block_next_ >= producer_block_end_) {
    const std::optional<int64_t> epoch = link_.broker_epoch();
    if (!epoch) return std::nullopt;  // not registered yet
    protocol::AllocateProducerIdsRequest request;
    request.broker_id = settings_.config.node_id;
    request.broker_epoch = *epoch;
    auto answer =
        link_.send_to_controller(std::move(request), env_.clock.now() + runtime::seconds(10));
    if (!answer) return std::nullopt;
    const auto* block = std::get_if<protocol::AllocateProducerIdsResponse>(answer->get());
    if (block == nullptr || block->error_code != 0 || block->producer_id_len <= 0) {
      return std::nullopt;
    }
    producer_block_next_ = block->producer_id_start;
    producer_block_end_ = block->producer_id_start + block->producer_id_len;
  }
  return producer_block_next_++;
}

protocol::ResponseBody Broker::find_coordinator(const protocol::RequestHeader& header,
                                                const protocol::FindCoordinatorRequest& request) {
  // Group and transaction coordinators come with their issues. Until then the answer
  // is COORDINATOR_NOT_AVAILABLE, which clients retry; serving the api at all matters
  // now: librdkafka enables lz4 only for a broker that lists FindCoordinator.
  protocol::FindCoordinatorResponse response;
  const auto code = error_value(ErrorCode::coordinator_not_available);
  const std::string message = "weir serves no group or transaction coordinator yet";
  response.node_id = -1;
  if (header.api_version < 4) {
    response.error_code = code;
    if (header.api_version >= 1) response.error_message = message;
    return response;
  }
  for (const std::string& key : request.coordinator_keys) {
    auto& coordinator = response.coordinators.emplace_back();
    coordinator.key = key;
    coordinator.node_id = -1;
    coordinator.error_code = code;
    coordinator.error_message = message;
  }
  return response;
}

}  // namespace weir::broker
