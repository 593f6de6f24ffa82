// Files and directories. Every method may suspend the calling fiber.
//
// The contract is the one a careful storage engine assumes of Linux, and the one the
// simulator enforces:
//  - write_at data and a file's new size are volatile until File::sync() succeeds.
//  - Creating, removing or renaming a file is volatile until sync_directory() of its
//    parent directory succeeds.
//  - A failed sync() may have lost the dirty data even though reads still return it;
//    the only safe reaction is to treat the file as suspect (reopen and recover).
//  - Reads may return silently corrupted bytes; only a checksum tells.
// Paths are relative to the node's data root, '/'-separated, without '..'.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "runtime/io_error.h"

namespace weir::runtime {

class File {
 public:
  virtual ~File() = default;
  // Reads up to buffer.size() bytes at offset; fewer only at end of file.
  virtual IoResult<size_t> read_at(uint64_t offset, std::span<std::byte> buffer) = 0;
  virtual IoResult<void> write_at(uint64_t offset, std::span<const std::byte> bytes) = 0;
  virtual IoResult<uint64_t> size() = 0;
  virtual IoResult<void> truncate(uint64_t size) = 0;
  // fsync: makes written data and the size durable.
  virtual IoResult<void> sync() = 0;
  virtual void close() = 0;
};

enum class OpenMode {
  read_write,        // the file must exist
  create,            // create if missing
  create_exclusive,  // fail with `exists` if present
};

class Disk {
 public:
  virtual ~Disk() = default;
  virtual IoResult<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) = 0;
  virtual IoResult<void> remove(const std::string& path) = 0;
  // Atomically replaces `to` (if present) with `from`.
  virtual IoResult<void> rename(const std::string& from, const std::string& to) = 0;
  // The names (not paths) in a directory, sorted.
  virtual IoResult<std::vector<std::string>> list(const std::string& directory) = 0;
  // Creates the directory and missing parents; succeeds if it exists.
  virtual IoResult<void> make_directories(const std::string& directory) = 0;
  virtual IoResult<void> sync_directory(const std::string& directory) = 0;
  virtual IoResult<bool> exists(const std::string& path) = 0;
};

}  // namespace weir::runtime
