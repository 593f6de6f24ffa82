#include "metadata/placement.h"

#include <algorithm>

#include <absl/container/btree_map.h>
#include <fmt/format.h>

namespace weir::metadata {
namespace {

template <typename T>
void shuffle(std::vector<T>& items, runtime::Random& random) {
  // Fisher-Yates over the node's generator (std::shuffle's output differs between
  // standard libraries).
  for (size_t i = items.size(); i > 1; i--) {
    const size_t j = static_cast<size_t>(random.below(i));
    std::swap(items[i - 1], items[j]);
  }
}

}  // namespace

Result<std::vector<std::vector<BrokerId>>, PlacementError> place_replicas(
    std::vector<PlacementBroker> brokers, int32_t partition_count, int16_t replication_factor,
    runtime::Random& random) {
  VERIFY(partition_count >= 0);
  if (replication_factor <= 0) {
    return weir::unexpected(PlacementError{
        "Replication factor must be larger than 0, or -1 to use the default value."});
  }
  if (brokers.empty()) {
    return weir::unexpected(PlacementError{fmt::format(
        "Unable to replicate the partition {} time(s): All brokers are currently fenced.",
        replication_factor)});
  }
  if (static_cast<size_t>(replication_factor) > brokers.size()) {
    return weir::unexpected(PlacementError{fmt::format(
        "Unable to replicate the partition {0} time(s): The target replication factor of {0} "
        "cannot be reached because only {1} broker(s) are registered.",
        replication_factor, brokers.size())});
  }
  // Racks in a canonical order first (the caller's order must not matter), then
  // shuffled; brokers without a rack form one group after the named racks.
  absl::btree_map<std::pair<bool, std::string>, std::vector<BrokerId>> by_rack;
  for (const auto& broker : brokers) {
    by_rack[{!broker.rack.has_value(), broker.rack.value_or("")}].push_back(broker.id);
  }
  std::vector<std::vector<BrokerId>> racks;
  for (auto& [rack, ids] : by_rack) {
    std::sort(ids.begin(), ids.end());
    VERIFY(std::adjacent_find(ids.begin(), ids.end()) == ids.end(), "a broker given twice");
    shuffle(ids, random);
    racks.push_back(std::move(ids));
  }
  shuffle(racks, random);

  // Interleave: the first broker of each rack, then the second of each, ... so any
  // window of consecutive entries spans as many racks as the rack sizes allow.
  std::vector<BrokerId> striped;
  striped.reserve(brokers.size());
  for (size_t round = 0; striped.size() < brokers.size(); round++) {
    for (const auto& rack : racks) {
      if (round < rack.size()) striped.push_back(rack[round]);
    }
  }
  VERIFY(striped.size() == brokers.size());

  const size_t count = striped.size();
  const size_t start = static_cast<size_t>(random.below(count));
  std::vector<std::vector<BrokerId>> placements;
  placements.reserve(static_cast<size_t>(partition_count));
  for (int32_t partition = 0; partition < partition_count; partition++) {
    std::vector<BrokerId> replicas;
    replicas.reserve(static_cast<size_t>(replication_factor));
    const size_t leader = (start + static_cast<size_t>(partition)) % count;
    for (int16_t replica = 0; replica < replication_factor; replica++) {
      replicas.push_back(striped[(leader + static_cast<size_t>(replica)) % count]);
    }
    placements.push_back(std::move(replicas));
  }
  VERIFY(placements.size() == static_cast<size_t>(partition_count));
  return placements;
}

}  // namespace weir::metadata
