// Env: everything a node's code may use to touch the world. It is handed to
// constructors; nothing reaches the OS any other way (DESIGN.md §1).
#pragma once

#include <cstdint>

#include "runtime/buggify.h"
#include "runtime/clock.h"
#include "runtime/disk.h"
#include "runtime/log.h"
#include "runtime/network.h"
#include "runtime/random.h"
#include "runtime/scheduler.h"

namespace weir::runtime {

struct Env {
  Scheduler& scheduler;
  const Clock& clock;
  Random& random;
  Network& network;
  Disk& disk;
  Buggify& buggify;
  Log& log;
};

}  // namespace weir::runtime
