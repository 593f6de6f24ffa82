// What the workloads that run a KRaft cluster of shipped nodes (metadata, replication,
// groups) share: host names, ports, and the server.properties lines of the quorum at the
// simulator's pace.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace weir::sim::kraft {

inline constexpr uint16_t kControllerPort = 9093;
inline constexpr uint16_t kBrokerPort = 9092;

inline std::string controller_host(int id) { return fmt::format("c{}", id); }
inline std::string broker_host(int id) { return fmt::format("b{}", id); }

// The lines every node shares: controllers 1..voters on their hosts, an election within
// half a second, broker sessions of 3 s with a heartbeat every 500 ms.
inline std::vector<std::string> quorum_config(int voters) {
  std::string list;
  for (int voter = 1; voter <= voters; voter++) {
    list += fmt::format("{}{}@{}:{}", voter == 1 ? "" : ",", voter, controller_host(voter),
                        kControllerPort);
  }
  return {
      fmt::format("controller.quorum.voters={}", list),
      "controller.listener.names=CONTROLLER",
      "controller.quorum.election.timeout.ms=500",
      "controller.quorum.fetch.timeout.ms=1000",
      "broker.session.timeout.ms=3000",
      "broker.heartbeat.interval.ms=500",
  };
}

}  // namespace weir::sim::kraft
