// The replica checker: no two in-sync replicas of a partition disagree below the high
// watermark (the log checker's "no replica diverges below the high watermark", judged
// on the logs themselves rather than on what consumers happened to read).
//
// Each broker reports, once the world has healed and quiesced, what every partition log
// it hosts holds: its batches (base and last offset, leader epoch, CRC), its log start
// and end, its high watermark and whether it leads (broker::BrokerHooks::on_audit). Below
// the leader's high watermark every replica the controllers show in the ISR must hold
// the leader's batches exactly — the same boundaries, epochs and CRCs — wherever both
// logs cover an offset. A replica outside the ISR may still hold a diverged tail it has
// not yet been told to truncate, so it is not judged (liveness reports it instead).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/checkers/result.h"

namespace weir::sim::checkers {

struct AuditedBatch {
  int64_t base_offset = 0;
  int64_t last_offset = 0;
  int32_t leader_epoch = -1;
  uint32_t crc = 0;
  bool operator==(const AuditedBatch&) const = default;
};

struct ReplicaAudit {
  int32_t broker = -1;
  bool leader = false;
  int64_t high_watermark = 0;
  int64_t log_start = 0;
  int64_t log_end = 0;
  std::vector<AuditedBatch> batches;  // in offset order
};

// Judges the audits of one partition (`label`, e.g. "s0-2"); `in_sync` are the brokers
// the controllers' last image shows in its ISR. Without a leader's audit, the replica
// with the highest high watermark is the reference. Adds a correctness problem per
// replica that disagrees, naming the first offset where it does; returns how many
// replicas were compared with the reference.
int check_replicas_agree(const std::string& label, const std::vector<ReplicaAudit>& audits,
                         const std::vector<int32_t>& in_sync, CheckResult& result);

}  // namespace weir::sim::checkers
