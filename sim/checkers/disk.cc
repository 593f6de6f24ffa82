#include "sim/checkers/disk.h"

#include <absl/container/btree_set.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace weir::sim::checkers {

void check_disk_convergence(const DiskHistory& history, const std::vector<int>& brokers,
                            CheckResult& result) {
  for (int id : brokers) {
    auto it = history.find(id);
    if (it == history.end()) {
      result.fail(Verdict::liveness,
                  fmt::format("broker {} never reconciled its partitions after the final "
                              "restart",
                              id));
      continue;
    }
    const DiskObservation& disk = it->second;
    absl::btree_set<std::string> placed;
    for (const auto& [name, topic_id] : disk.image.topic_names()) {
      const metadata::TopicImage& topic = *disk.image.topic(topic_id);
      for (size_t index = 0; index < topic.partitions.size(); index++) {
        if (topic.partitions[index].is_replica(metadata::BrokerId(id))) {
          placed.insert(fmt::format("{}-{}", name, index));
        }
      }
    }
    const absl::btree_set<std::string> present(disk.directories.begin(), disk.directories.end());
    if (placed == present) continue;
    std::vector<std::string> missing;
    std::vector<std::string> stray;
    for (const std::string& name : placed) {
      if (!present.contains(name)) missing.push_back(name);
    }
    for (const std::string& name : present) {
      if (!placed.contains(name)) stray.push_back(name);
    }
    result.fail(Verdict::correctness,
                fmt::format("broker {}'s disk does not match its image: missing [{}], "
                            "not placed there [{}]",
                            id, fmt::join(missing, ", "), fmt::join(stray, ", ")));
  }
}

}  // namespace weir::sim::checkers
