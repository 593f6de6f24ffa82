#include "runtime/real/limits.h"

#include <algorithm>
#include <sys/resource.h>

namespace weir::runtime::real {

namespace {
// fs.nr_open's default: setrlimit refuses a soft limit above it, so an unlimited hard
// limit is capped here rather than read from /proc (whose value is rarely changed).
constexpr rlim_t kUnlimitedCap = 1 << 20;
}  // namespace

OpenFileLimitChange raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return {};
  OpenFileLimitChange change{limit.rlim_cur, limit.rlim_cur};
  const rlim_t target = limit.rlim_max == RLIM_INFINITY ? kUnlimitedCap : limit.rlim_max;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < target) {
    rlimit raised = limit;
    raised.rlim_cur = target;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) change.after = target;
  }
  return change;
}

}  // namespace weir::runtime::real
