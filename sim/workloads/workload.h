// A workload sets up nodes in a World, drives them, records what they did into the
// histories of sim/checkers/, and checks those histories with the checkers there
// (FoundationDB's TestWorkload: setup / start / check; Jepsen's checkers stand apart
// from the system under test). Workloads compose with any fault profile; the runner owns
// the phases.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sim/checkers/result.h"
#include "sim/options.h"
#include "sim/world.h"

namespace weir::sim {

class Workload {
 public:
  virtual ~Workload() = default;
  // Adds the nodes and starts the clients.
  virtual void setup(World& world) = 0;
  // The faulty phase is over and the world healed.
  virtual void on_heal(World& world) {}
  // Stop issuing new operations; what is in flight may finish.
  virtual void quiesce(World& world) {}
  // After quiescing, a final power loss of every node and their recovery: check
  // everything.
  virtual CheckResult check(World& world) = 0;
};

// The workloads weir-sim knows, by name; nullptr for an unknown name.
std::unique_ptr<Workload> make_workload(std::string_view name, const RunOptions& options);
std::vector<std::string> workload_names();

}  // namespace weir::sim
