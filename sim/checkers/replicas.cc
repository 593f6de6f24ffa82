#include "sim/checkers/replicas.h"

#include <algorithm>
#include <optional>

#include <absl/container/btree_map.h>
#include <fmt/format.h>

#include "base/assert.h"

namespace weir::sim::checkers {
namespace {

std::string describe(const AuditedBatch* batch) {
  if (batch == nullptr) return "no batch starts there";
  return fmt::format("batch [{}, {}] of epoch {} crc {:08x}", batch->base_offset,
                     batch->last_offset, batch->leader_epoch, batch->crc);
}

// The batches of `audit` starting in [from, to), by base offset.
absl::btree_map<int64_t, const AuditedBatch*> starting_in(const ReplicaAudit& audit, int64_t from,
                                                          int64_t to) {
  absl::btree_map<int64_t, const AuditedBatch*> out;
  for (const AuditedBatch& batch : audit.batches) {
    VERIFY(batch.base_offset <= batch.last_offset, "an audited batch ends before it starts");
    if (batch.base_offset >= from && batch.base_offset < to) out.emplace(batch.base_offset, &batch);
  }
  return out;
}

}  // namespace

int check_replicas_agree(const std::string& label, const std::vector<ReplicaAudit>& audits,
                         const std::vector<int32_t>& in_sync, CheckResult& result) {
  // The reference: the leader's audit (the latest leader's, should leadership have
  // moved between audits: the highest high watermark), else the most advanced replica.
  const ReplicaAudit* reference = nullptr;
  auto better = [](const ReplicaAudit& a, const ReplicaAudit& b) {
    if (a.leader != b.leader) return a.leader;
    return a.high_watermark > b.high_watermark;
  };
  for (const ReplicaAudit& audit : audits) {
    if (reference == nullptr || better(audit, *reference)) reference = &audit;
  }
  if (reference == nullptr) return 0;
  int compared = 0;
  for (const ReplicaAudit& audit : audits) {
    if (&audit == reference) continue;
    if (std::find(in_sync.begin(), in_sync.end(), audit.broker) == in_sync.end()) continue;
    compared++;
    // Offsets both logs cover, below the reference's high watermark.
    const int64_t from = std::max(reference->log_start, audit.log_start);
    const int64_t to = std::min({reference->high_watermark, audit.log_end, reference->log_end});
    if (from >= to) continue;
    const auto theirs = starting_in(audit, from, to);
    const auto ours = starting_in(*reference, from, to);
    // The first base offset where the two disagree, in either direction.
    std::optional<int64_t> first;
    for (const auto& [base, batch] : ours) {
      auto it = theirs.find(base);
      if (it == theirs.end() || !(*it->second == *batch)) {
        first = base;
        break;
      }
    }
    for (const auto& [base, batch] : theirs) {
      if (first && base >= *first) break;
      if (!ours.contains(base)) {
        first = base;
        break;
      }
    }
    if (!first) continue;
    auto ours_at = ours.find(*first);
    auto theirs_at = theirs.find(*first);
    result.fail(Verdict::correctness,
                fmt::format("{}: in-sync replica {} diverges from {} {} below its high watermark "
                            "{}: at offset {} it has {}, the {} has {}",
                            label, audit.broker, reference->leader ? "leader" : "replica",
                            reference->broker, reference->high_watermark, *first,
                            describe(theirs_at == theirs.end() ? nullptr : theirs_at->second),
                            reference->leader ? "leader" : "reference",
                            describe(ours_at == ours.end() ? nullptr : ours_at->second)));
  }
  return compared;
}

}  // namespace weir::sim::checkers
