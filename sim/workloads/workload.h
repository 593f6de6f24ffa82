// A workload sets up nodes in a World, drives them, and checks the history it recorded
// (FoundationDB's TestWorkload: setup / start / check). Workloads compose with any
// fault profile; the runner owns the phases.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sim/options.h"
#include "sim/world.h"

namespace weir::sim {

struct CheckResult {
  Verdict verdict = Verdict::ok;
  std::vector<std::string> problems;
  std::string summary;  // a line of figures about the run (operations done, ...)

  void fail(Verdict kind, std::string problem) {
    // Correctness outranks liveness: a wrong answer matters more than a slow one.
    if (verdict == Verdict::ok || kind == Verdict::correctness) verdict = kind;
    if (problems.size() < 20) problems.push_back(std::move(problem));
  }
};

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
