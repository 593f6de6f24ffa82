// Disk convergence: after the final restart each broker's disk holds exactly the
// partition directories its metadata image places on it (deleted topics' directories
// gone, placed partitions present), as the broker saw both at its last reconciliation.
#pragma once

#include <string>
#include <vector>

#include <absl/container/btree_map.h>

#include "metadata/image.h"
#include "sim/checkers/result.h"

namespace weir::sim::checkers {

// What one broker's reconciliation saw: its image, and the partition directories
// ("topic-partition") its data directory then listed.
struct DiskObservation {
  metadata::Image image;
  std::vector<std::string> directories;
};

// broker id → its last reconciliation after the final restart.
using DiskHistory = absl::btree_map<int, DiskObservation>;

// Every broker in `brokers` reconciled (liveness), and its directories are exactly the
// partitions its image places on it (correctness).
void check_disk_convergence(const DiskHistory& history, const std::vector<int>& brokers,
                            CheckResult& result);

}  // namespace weir::sim::checkers
