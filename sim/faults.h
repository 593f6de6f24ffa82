// The simulator's fault model (DESIGN.md §2): which faults are switched on, how likely
// each is, and how often each actually fired. Probabilities are drawn per seed (swarm
// testing: some seeds hammer the disk, others the network), then the run has a faulty
// phase followed by a healed phase in which no new faults start.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <absl/container/btree_map.h>

namespace weir::sim {

struct DiskFaults {
  bool enabled = false;
  // Per operation.
  double read_error = 0;        // read_at fails with EIO
  double write_error = 0;       // write_at fails with EIO (nothing written)
  double sync_error = 0;        // sync fails with EIO; dirty data may be lost (fsyncgate)
  double read_corruption = 0;   // one bit of the returned buffer flipped, silently
  double no_space = 0;          // write_at fails with ENOSPC
  double slow = 0;              // the operation takes slow_latency instead of latency
  double too_many_open_files = 0;  // open fails with EMFILE (nothing opened)
  // On crash, each unsynced sector survives with this probability; the rest keep their
  // old contents (sector-granular tearing).
  double unsynced_sector_survives = 0.5;
  // Unsynced directory entries (create, remove, rename) survive a crash with this
  // probability each.
  double unsynced_entry_survives = 0.5;
};

struct NetworkFaults {
  bool enabled = false;
  double partition_rate_per_second = 0;  // how often a new partition starts
  double clog_rate_per_second = 0;       // how often a link gets clogged
  double reset_rate_per_second = 0;      // how often a random connection is reset
  double connect_timeout = 0;            // per connect: it hangs until its timeout
  // Per accept of a queued connection, and per connect: the host runs out of file
  // descriptors (EMFILE) for a while (10 ms to 1 s). Meanwhile every accept and connect
  // of the host fails at once with too_many_open_files, and queued connections stay
  // queued, as in a kernel's backlog.
  double too_many_open_files = 0;
};

struct ProcessFaults {
  bool enabled = false;
  double crash_rate_per_second = 0;
  double pause_rate_per_second = 0;
  double shutdown_rate_per_second = 0;  // graceful shutdown then restart
};

struct ClockFaults {
  bool enabled = false;
  int64_t skew_ms_max = 0;      // wall clock offset per node, drawn per node
  double drift_ppm_max = 0;     // wall clock drift per node
};

// Counts of faults that actually fired, by kind ("disk.read_error", ...). Ordered, so
// it prints the same way every time.
class FaultStats {
 public:
  void count(std::string_view kind) { counts_[std::string(kind)]++; }
  uint64_t get(std::string_view kind) const {
    auto it = counts_.find(std::string(kind));
    return it == counts_.end() ? 0 : it->second;
  }
  const absl::btree_map<std::string, uint64_t>& all() const { return counts_; }
  void merge(const FaultStats& other) {
    for (const auto& [kind, n] : other.counts_) counts_[kind] += n;
  }

 private:
  absl::btree_map<std::string, uint64_t> counts_;
};

}  // namespace weir::sim
