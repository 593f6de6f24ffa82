// SimDisk: one node's disk in the simulator. Implements runtime::Disk with the crash
// semantics of a real disk plus injected faults (see sim/faults.h DiskFaults).
//
// Model:
//  - Each file is an inode with a volatile image (what reads see) and a durable image
//    (what survives a crash). write_at/truncate change the volatile image and mark the
//    touched 512-byte sectors (and the size) dirty; sync() copies them to the durable
//    image.
//  - Directory entries (create, remove, rename) change the volatile namespace at once
//    and the durable namespace only when sync_directory() of the parent succeeds.
//  - crash(): every unsynced sector independently keeps its new or old contents
//    (torn at sector granularity), the size becomes the durable or the volatile one,
//    and each unsynced directory entry change survives or is lost. Open File objects
//    of the crashed node become invalid (operations fail with `io`).
//  - A failed sync() leaves the volatile image as written but decides, per dirty
//    sector, whether it reached the disk; the sectors are then clean, so a later sync
//    succeeds without persisting them (Linux's fsync error semantics).
//  - Read corruption flips a bit in the caller's buffer only, never in storage.
//  - Every operation takes simulated time (latency, or slow_latency when the `slow`
//    fault fires) and is folded into the trace (when a tracer is given).
//  - Directories themselves are durable as soon as make_directories() returns (and
//    gone once remove() of an empty directory returns); the file entries inside them
//    are what sync_directory() makes durable. A failed sync_directory() persists
//    nothing.
//  - Crash effects apply whether or not fault injection is active: losing unsynced
//    data on a crash is the contract, not an injected fault.
//  - Files must not be used after their SimDisk is destroyed (destroying them later is
//    fine).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/clock.h"
#include "runtime/disk.h"
#include "runtime/random.h"
#include "runtime/scheduler.h"
#include "sim/faults.h"

namespace weir::sim {

struct DiskTiming {
  runtime::Duration latency = runtime::microseconds(50);
  runtime::Duration sync_latency = runtime::microseconds(500);
  runtime::Duration slow_latency = runtime::milliseconds(200);
  uint64_t capacity_bytes = 1ULL << 32;
};

class SimDisk final : public runtime::Disk {
 public:
  static constexpr uint64_t sector_bytes = 512;

  SimDisk(runtime::Scheduler& scheduler, runtime::Random random, const DiskFaults& faults,
          FaultStats& stats, DiskTiming timing = {}, runtime::Tracer* tracer = nullptr);
  ~SimDisk() override;

  runtime::IoResult<std::unique_ptr<runtime::File>> open(const std::string& path,
                                                      runtime::OpenMode mode) override;
  runtime::IoResult<void> remove(const std::string& path) override;
  runtime::IoResult<void> rename(const std::string& from, const std::string& to) override;
  runtime::IoResult<std::vector<std::string>> list(const std::string& directory) override;
  runtime::IoResult<void> make_directories(const std::string& directory) override;
  runtime::IoResult<void> sync_directory(const std::string& directory) override;
  runtime::IoResult<bool> exists(const std::string& path) override;

  // Applies crash semantics (see above). Call when the owning node crashes, after its
  // fibers are gone and before it restarts.
  void crash();
  // Called (without suspending) when a fault may cost writes that were never synced
  // although the machine kept power: a failed sync forgets dirty sectors, and any
  // other failed read or write makes the broker reopen the log from what is durable.
  void set_on_unsynced_loss(std::function<void()> callback);
  // Turns fault injection on or off (the healed phase turns it off).
  void set_faults_active(bool active);
  // Bytes used by all volatile images.
  uint64_t used_bytes() const;
  // For checkers, while the world is paused: the files in `directory` and a file's
  // contents as reads would see them now (the volatile images). No fault, no latency,
  // no trace event: looking cannot change the run.
  std::vector<std::string> peek_list(const std::string& directory) const;
  std::optional<std::vector<uint8_t>> peek(const std::string& path) const;
  // A digest of the durable state, for tests and the trace.
  uint64_t durable_digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace weir::sim
