#include "sim/workloads/workload.h"

#include "sim/workloads/broker_log.h"
#include "sim/workloads/consumer_groups.h"
#include "sim/workloads/metadata_cluster.h"
#include "sim/workloads/partition_replication.h"
#include "sim/workloads/raft_quorum.h"
#include "sim/workloads/replicated_log.h"

namespace weir::sim {

std::unique_ptr<Workload> make_workload(std::string_view name, const RunOptions& options) {
  if (name == "replicated_log") return make_replicated_log_workload(options);
  if (name == "broker_log") return make_broker_log_workload(options);
  if (name == "raft") return make_raft_quorum_workload(options);
  if (name == "metadata") return make_metadata_cluster_workload(options);
  if (name == "replication") return make_partition_replication_workload(options);
  if (name == "groups") return make_consumer_groups_workload(options, false);
  if (name == "groups-consumer") return make_consumer_groups_workload(options, true);
  return nullptr;
}

std::vector<std::string> workload_names() {
  return {"replicated_log", "broker_log", "raft", "metadata", "replication", "groups",
          "groups-consumer"};
}

}  // namespace weir::sim
