// Process resource limits the real runtime adjusts at start.
//
// The open-file limit: most systems start a process with a soft RLIMIT_NOFILE of 1024
// and a hard one far above it. A broker needs a descriptor per client connection and
// per open segment, so at 1024 it runs out under an ordinary load. Raising the soft
// limit to the hard one is what every server does (Kafka's scripts leave it to the
// service manager; nginx and Redpanda raise it themselves). The hard limit is the
// administrator's: weir never tries to exceed it, so running under
// `prlimit --nofile=N:N` pins the limit at N.
#pragma once

#include <cstdint>

namespace weir::runtime::real {

struct OpenFileLimitChange {
  uint64_t before = 0;
  uint64_t after = 0;
  bool raised() const { return after > before; }
};

// Raises this process's soft open-file limit to its hard limit (or to the kernel's
// per-process maximum when the hard limit is unlimited). Returns the soft limit
// before and after; they are equal when there was nothing to raise or the kernel
// refused.
OpenFileLimitChange raise_open_file_limit();

}  // namespace weir::runtime::real
