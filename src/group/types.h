// The group module's vocabulary: the numbers and handles its state machines trade in.
// GenerationId is a group's rebalance count; Token and PersistId are opaque handles
// that let a pure state machine defer an answer (a parked JoinGroup) or wait for an
// append to __consumer_offsets without knowing about connections or logs.
#pragma once

#include <cstdint>
#include <vector>

#include "base/strong.h"
#include "runtime/clock.h"

namespace weir::group {

using Bytes = std::vector<uint8_t>;

// A classic group's generation: 0 for a group that never rebalanced, +1 per completed
// join phase. -1 on the wire means "no generation" (simple commits, admin clients).
using GenerationId = Strong<struct GenerationIdTag, int32_t>;
inline constexpr GenerationId kNoGeneration{-1};

// The caller's handle for one request. The group answers each token exactly once,
// possibly much later (a JoinGroup is answered when the rebalance completes); tokens
// must be unique among the requests still unanswered.
using Token = Strong<struct TokenTag, uint64_t>;

// Names one append to __consumer_offsets the group asked for. The driver reports its
// outcome with on_persisted / on_persist_failed; responses gated on it wait until then.
using PersistId = Strong<struct PersistIdTag, uint64_t>;

// The two readings of a node's clock an entry point needs: the monotonic one drives
// timers; the wall one stamps the records (Kafka's tools read those as epoch ms).
struct Now {
  runtime::Instant monotonic;
  runtime::WallTime wall;
};

}  // namespace weir::group
