#include "runtime/real/clock.h"

#include <time.h>

#include "base/assert.h"

namespace weir::runtime::real {

namespace {
int64_t read_nanoseconds(clockid_t clock) {
  timespec now{};
  const int rc = clock_gettime(clock, &now);
  VERIFY(rc == 0, "clock_gettime cannot fail for a valid clock id");
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}
}  // namespace

Instant RealClock::now() const {
  return Instant::from_nanoseconds(read_nanoseconds(CLOCK_MONOTONIC));
}

WallTime RealClock::wall_now() const {
  return WallTime{read_nanoseconds(CLOCK_REALTIME) / 1'000'000};
}

}  // namespace weir::runtime::real
