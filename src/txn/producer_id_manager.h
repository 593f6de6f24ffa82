// ProducerIdManager: InitProducerId for a single node. Hands out producer ids that are
// never reused, across restarts and crashes, as Kafka's controller does with
// ProducerIdsBlock (blocks of 1000 ids, each block's end recorded in the metadata log
// before any id from it is used).
//
// Here the record is a small file, `<directory>/producer-ids` ("0\n<next unreserved
// id>\n", replaced atomically: temporary, fsync, rename, directory fsync). Invariants:
//  - Every id handed out is below the durable value in that file: a block is reserved
//    by durably writing its end before the first of its ids is returned.
//  - On open the next block starts at the durable value, so ids handed out before a
//    crash (all below it) are never handed out again; the rest of a block in use at the
//    crash is skipped, never reused.
//  - Ids increase strictly within a life of the manager.
//
// Epochs: an id handed out fresh starts at epoch 0. Transactional ids (which keep their
// producer id and bump its epoch, and are fenced with PRODUCER_FENCED) arrive with the
// transaction coordinator: it will call next_producer_id() for a new transactional id
// and own the epoch itself, so this class stays the allocator of ids only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "record/types.h"
#include "runtime/sync.h"
#include "storage/errors.h"
#include "storage/partition_log.h"

namespace weir::txn {

struct ProducerIdAndEpoch {
  record::ProducerId producer_id{-1};
  record::ProducerEpoch producer_epoch{-1};
  bool operator==(const ProducerIdAndEpoch&) const = default;
};

// Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE.
inline constexpr int64_t kProducerIdBlockSize = 1000;
inline constexpr const char* kProducerIdsFileName = "producer-ids";

class ProducerIdManager {
 public:
  // Suspends. Reads `<directory>/producer-ids` (created on the first reservation; the
  // directory is created if missing). Fails on I/O errors or a malformed file
  // (storage::StorageError::corrupt_batch), which must not be guessed past: guessing
  // low would reuse ids.
  static storage::StorageResult<std::unique_ptr<ProducerIdManager>> open(
      storage::StorageEnv env, const std::string& directory,
      int64_t block_size = kProducerIdBlockSize);

  // Suspends when a new block must be reserved. A fresh producer id (never handed out
  // before by this directory) at epoch 0: the answer to an InitProducerId without a
  // transactional id. Fails if the reservation could not be made durable; no id is
  // handed out then.
  storage::StorageResult<ProducerIdAndEpoch> init_producer_id();
  // Suspends when a new block must be reserved. The next fresh id alone (the seam for
  // the transaction coordinator, which owns its ids' epochs).
  storage::StorageResult<record::ProducerId> next_producer_id();

  // The first id not yet handed out in the current block, and the block's durable end.
  record::ProducerId next_id() const { return record::ProducerId(next_); }
  record::ProducerId reserved_end() const { return record::ProducerId(reserved_end_); }
  uint64_t reservations() const { return reservations_; }

 private:
  ProducerIdManager(storage::StorageEnv env, std::string directory, int64_t block_size)
      : env_(env), directory_(std::move(directory)), block_size_(block_size),
        mutex_(env.scheduler) {}

  storage::StorageEnv env_;
  std::string directory_;
  int64_t block_size_;
  // Ids in [next_, reserved_end_) may be handed out; reserved_end_ is durable.
  int64_t next_ = 0;
  int64_t reserved_end_ = 0;
  uint64_t reservations_ = 0;
  // Serialises reservations: two fibers must not both reserve (and one hand out ids
  // from a block the other's write then overlaps).
  runtime::Mutex mutex_;
};

}  // namespace weir::txn
