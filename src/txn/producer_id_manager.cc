#include "txn/producer_id_manager.h"

#include <limits>
#include <utility>

#include "base/assert.h"
#include "storage/checkpoint.h"

namespace weir::txn {

storage::StorageResult<std::unique_ptr<ProducerIdManager>> ProducerIdManager::open(
    storage::StorageEnv env, const std::string& directory, int64_t block_size) {
  VERIFY(block_size > 0, "block size {}", block_size);
  VERIFY(!directory.empty());
  if (auto made = env.disk.make_directories(directory); !made) {
    return unexpected(made.error() == runtime::IoError::no_space ? storage::StorageError::no_space
                                                                 : storage::StorageError::io);
  }
  std::unique_ptr<ProducerIdManager> manager(new ProducerIdManager(env, directory, block_size));
  auto text = storage::read_whole_file(env.disk, directory + "/" + kProducerIdsFileName);
  if (text) {
    auto next = storage::parse_offset_checkpoint(*text);
    if (!next) return unexpected(storage::StorageError::corrupt_batch);
    manager->next_ = next->value();
  } else if (text.error() != storage::StorageError::not_found) {
    return unexpected(text.error());
  }
  // Nothing is reserved in this life yet: the first request reserves a block from here.
  manager->reserved_end_ = manager->next_;
  VERIFY(manager->next_ >= 0);
  return manager;
}

storage::StorageResult<record::ProducerId> ProducerIdManager::next_producer_id() {
  runtime::MutexGuard guard(mutex_);
  if (next_ == reserved_end_) {
    VERIFY(reserved_end_ <= std::numeric_limits<int64_t>::max() - block_size_,
           "producer ids exhausted");
    const int64_t end = reserved_end_ + block_size_;
    // Durable before any id of the block leaves: a crash after this write skips the
    // block's unused ids, a crash before it hands none of them out.
    auto written = storage::write_file_atomically(
        env_.disk, directory_, kProducerIdsFileName,
        storage::format_offset_checkpoint(record::Offset(end)));
    if (!written) return unexpected(written.error());
    reserved_end_ = end;
    reservations_++;
  }
  VERIFY(next_ < reserved_end_, "id {} outside the reserved block ending at {}", next_,
         reserved_end_);
  const record::ProducerId id(next_++);
  VERIFY(next_ <= reserved_end_);
  return id;
}

storage::StorageResult<ProducerIdAndEpoch> ProducerIdManager::init_producer_id() {
  auto id = next_producer_id();
  if (!id) return unexpected(id.error());
  return ProducerIdAndEpoch{*id, record::ProducerEpoch(0)};
}

}  // namespace weir::txn
