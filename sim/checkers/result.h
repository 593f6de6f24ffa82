// What a checker returns, and the outcome vocabulary histories share.
//
// A checker reads a recorded history and adds problems to a CheckResult; it never
// touches the world, draws a random number or suspends, so composing more checkers
// into a workload cannot change a seed's run (its trace hash).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "sim/options.h"

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
  // Something a reader of a failing (or --verbose) run should see that is not itself
  // a failure: a loss the settings permitted, with its explanation. Kept apart, so
  // notes never crowd out problems.
  std::vector<std::string> notes;
  void note(std::string line) {
    if (notes.size() < 20) notes.push_back(std::move(line));
  }
};

// How an operation ended, as its client saw it. `unknown` (a timeout, a reset, an
// ambiguous error) means it may or may not have taken effect; `failed` means it
// definitely did not.
enum class Outcome { pending, ok, failed, unknown };

}  // namespace weir::sim
