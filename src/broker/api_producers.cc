// InitProducerId: producer ids from blocks the active controller allocates.
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

}  // namespace weir::broker
