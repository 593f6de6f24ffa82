// The OS clocks: CLOCK_MONOTONIC for Instant (timeouts, deadlines) and CLOCK_REALTIME
// for WallTime (record timestamps). Only this backend reads them.
//
// Invariant: now() never goes backwards (CLOCK_MONOTONIC guarantees it); wall_now() may,
// when the system clock is stepped, which is why nothing times out on wall time.
#pragma once

#include "runtime/clock.h"

namespace weir::runtime::real {

class RealClock final : public Clock {
 public:
  Instant now() const override;
  WallTime wall_now() const override;
};

}  // namespace weir::runtime::real
