// RealDisk: the Disk interface over a directory of the host file system.
//
// All paths are resolved relative to a descriptor of the root directory (openat and
// friends), so a node can never touch anything outside its data root, whatever the
// current directory is.
//
// Where the blocking happens:
//  - File::sync() (fdatasync) and sync_directory() (fsync of the directory) run on the
//    BlockingWorker thread: they are the slow operations, and while one fiber waits for
//    its sync the others can fill the next group commit.
//  - Everything else (open, pread, pwrite, ftruncate, rename, unlink, readdir, mkdir)
//    runs on the loop thread: against the page cache these take microseconds. Moving
//    reads to the worker is a later optimisation for cold segment reads.
//
// sync() is fdatasync rather than fsync: it makes the data and the file size durable
// (what the Disk contract asks), but skips timestamps, which nothing reads.
//
// Invariants:
//  - Paths are relative, '/'-separated, without empty, "." or ".." components; anything
//    else is IoError::invalid. For directory arguments, "" and "." name the root.
//  - A closed File fails every operation with IoError::closed.
#pragma once

#include <memory>
#include <string>

#include "runtime/disk.h"
#include "runtime/real/worker.h"

namespace weir::runtime::real {

class RealDisk final : public Disk {
 public:
  // Creates the root directory (and its parents) if missing, then opens it.
  static IoResult<std::unique_ptr<RealDisk>> open_root(BlockingWorker& worker,
                                                       const std::string& root);
  ~RealDisk() override;
  RealDisk(const RealDisk&) = delete;
  RealDisk& operator=(const RealDisk&) = delete;

  IoResult<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override;
  IoResult<void> remove(const std::string& path) override;
  IoResult<void> rename(const std::string& from, const std::string& to) override;
  IoResult<std::vector<std::string>> list(const std::string& directory) override;
  IoResult<void> make_directories(const std::string& directory) override;
  IoResult<void> sync_directory(const std::string& directory) override;
  IoResult<bool> exists(const std::string& path) override;

  const std::string& root() const { return root_; }

 private:
  RealDisk(BlockingWorker& worker, std::string root, int root_fd)
      : worker_(worker), root_(std::move(root)), root_fd_(root_fd) {}

  BlockingWorker& worker_;
  std::string root_;
  int root_fd_;
};

// Whether `path` is a valid relative path for RealDisk (exposed for tests).
bool valid_relative_path(const std::string& path);

}  // namespace weir::runtime::real
