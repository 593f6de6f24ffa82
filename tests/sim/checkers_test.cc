// The checkers of sim/checkers/ on small hand-made histories: each catches the flaw it
// exists for, and a clean history reports nothing. (weir_sim_test.py shows the same
// checkers catching planted flaws in whole simulated runs.)
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "metadata/records.h"
#include "metadata/state.h"
#include "sim/checkers/admin.h"
#include "sim/checkers/contracts.h"
#include "sim/checkers/disk.h"
#include "sim/checkers/log.h"
#include "sim/checkers/raft.h"
#include "sim/checkers/replicas.h"

namespace weir::sim::checkers {
namespace {

using raft::Epoch;
using runtime::Instant;

Instant at_ms(int64_t ms) { return Instant::from_nanoseconds(ms * 1'000'000); }

// Expects exactly one problem, of `verdict`, mentioning `words`.
void expect_one_problem(const CheckResult& result, Verdict verdict, const std::string& words) {
  EXPECT_EQ(result.verdict, verdict);
  ASSERT_EQ(result.problems.size(), 1u) << ::testing::PrintToString(result.problems);
  EXPECT_NE(result.problems[0].find(words), std::string::npos) << result.problems[0];
}

// --- log.h --------------------------------------------------------------------------------

// Three writes to partition 0 (1 and 2 acknowledged at offsets 0 and 1, 3 unknown), read
// back, and a final log holding all three.
LogHistory clean_log() {
  LogHistory history;
  history.writes = {
      {.value = 1, .partition = 0, .invoked = at_ms(10), .outcome = Outcome::ok, .offset = 0},
      {.value = 2, .partition = 0, .invoked = at_ms(20), .outcome = Outcome::ok, .offset = 1},
      {.value = 3, .partition = 0, .invoked = at_ms(30), .outcome = Outcome::unknown},
  };
  record_read(history, {0, 0}, 1, "a consumer");
  record_read(history, {0, 1}, 2, "a consumer");
  record_read(history, {0, 0}, 1, "r1", at_ms(40));
  history.final_log.emplace(1);
  (*history.final_log)[0] = {{0, 1}, {1, 2}, {2, 3}};
  return history;
}

void check_log(const LogHistory& history, Instant healed_at, CheckResult& result) {
  check_log_integrity(history, result);
  check_log_durability(history, result);
  check_log_reads(history, result);
  check_log_progress(history, healed_at, result);
}

TEST(LogCheckers, CleanHistoryPasses) {
  CheckResult result;
  LogHistory history = clean_log();
  check_log(history, at_ms(15), result);
  EXPECT_EQ(result.verdict, Verdict::ok);
  EXPECT_TRUE(result.problems.empty()) << ::testing::PrintToString(result.problems);
  EXPECT_EQ(history.read_count, 3u);
  EXPECT_EQ(acknowledged_writes(history), 2u);
  EXPECT_EQ(final_records(history), 3u);
}

TEST(LogCheckers, LostAcknowledgedWrite) {
  LogHistory history = clean_log();
  (*history.final_log)[0] = {{0, 1}};  // the tail, with acknowledged write 2, is gone
  history.reads.erase(LogPosition{0, 1});
  CheckResult result;
  check_log_durability(history, result);
  expect_one_problem(result, Verdict::correctness,
                     "acknowledged write 2 at partition 0 offset 1 lost");
}

TEST(LogCheckers, ReplacedAcknowledgedWrite) {
  LogHistory history = clean_log();
  (*history.final_log)[0] = {{0, 1}, {1, 3}};
  CheckResult result;
  check_log_durability(history, result);
  expect_one_problem(result, Verdict::correctness,
                     "acknowledged write 2 at partition 0 offset 1 replaced by 3");
}

TEST(LogCheckers, DuplicateValue) {
  LogHistory history = clean_log();
  (*history.final_log)[0].emplace_back(3, 3);  // a retried batch appended twice
  CheckResult result;
  check_log_integrity(history, result);
  expect_one_problem(result, Verdict::correctness, "value 3 stored twice");
}

TEST(LogCheckers, ValueNobodyWrote) {
  LogHistory history = clean_log();
  (*history.final_log)[0].emplace_back(3, 99);  // e.g. a corrupted read made durable
  CheckResult result;
  check_log_integrity(history, result);
  expect_one_problem(result, Verdict::correctness, "holds 99, which nobody wrote");
}

TEST(LogCheckers, OffsetsGoingBackwards) {
  LogHistory history = clean_log();
  (*history.final_log)[0] = {{0, 1}, {2, 3}, {1, 2}};
  CheckResult result;
  check_log_integrity(history, result);
  expect_one_problem(result, Verdict::correctness, "offset 1 follows 2");
}

TEST(LogCheckers, ReadThatDisagreesWithTheFinalLog) {
  LogHistory history = clean_log();
  record_read(history, {0, 2}, 7, "a consumer");
  CheckResult result;
  check_log_reads(history, result);
  expect_one_problem(result, Verdict::correctness,
                     "a consumer read 7 at partition 0 offset 2; the final log has 3");
}

TEST(LogCheckers, PositionReadAsTwoValues) {
  LogHistory history = clean_log();
  record_read(history, {0, 1}, 9, "r2", at_ms(50));
  EXPECT_EQ(history.read_conflicts.size(), 1u);
  CheckResult result;
  check_log_reads(history, result);
  expect_one_problem(result, Verdict::correctness,
                     "partition 0 offset 1 read as 2 (a consumer) and as 9 (r2 at");
}

TEST(LogCheckers, NoProgressAfterHealing) {
  CheckResult result;
  check_log_progress(clean_log(), at_ms(25), result);  // write 3, after it, is unknown
  expect_one_problem(result, Verdict::liveness, "no write was acknowledged after healing");
}

// --- raft.h -------------------------------------------------------------------------------

TEST(RaftCheckers, TwoLeadersInOneEpoch) {
  ElectionHistory history;
  record_leader(history, Epoch(1), 1);
  record_leader(history, Epoch(2), 2);
  record_leader(history, Epoch(2), 2);  // a restart re-elected in its epoch: still one
  CheckResult clean;
  check_election_safety(history, clean);
  EXPECT_EQ(clean.verdict, Verdict::ok);
  record_leader(history, Epoch(2), 3);
  CheckResult result;
  check_election_safety(history, result);
  expect_one_problem(result, Verdict::correctness, "election safety: epoch 2 has leaders 2, 3");
}

TEST(RaftCheckers, TwoVotesInOneEpoch) {
  ElectionHistory history;
  record_vote(history, 1, Epoch(3), 2);
  record_vote(history, 1, Epoch(3), 2);
  record_vote(history, 2, Epoch(3), 2);
  CheckResult clean;
  check_vote_safety(history, clean);
  EXPECT_EQ(clean.verdict, Verdict::ok);
  record_vote(history, 1, Epoch(3), 3);  // forgot its vote across a crash
  CheckResult result;
  check_vote_safety(history, result);
  expect_one_problem(result, Verdict::correctness,
                     "vote safety: node 1 voted for 2 and 3 in epoch 3");
}

TEST(RaftCheckers, TwoDigestsAtOneOffset) {
  DigestHistory history;
  record_digest(history, 1, 10, 0xaa);
  record_digest(history, 2, 10, 0xaa);
  record_digest(history, 1, 20, 0xbb);
  CheckResult clean;
  check_digests(history, clean);
  EXPECT_EQ(clean.verdict, Verdict::ok);
  record_digest(history, 3, 20, 0xcc);
  record_digest(history, 3, 30, 0xdd);
  record_digest(history, 1, 30, 0xee);
  CheckResult result;
  check_digests(history, result);
  expect_one_problem(result, Verdict::correctness, "below offset 20 differ");
  EXPECT_NE(result.problems[0].find("2 offsets differ"), std::string::npos) << result.problems[0];
}

TEST(RaftCheckers, OffsetAppliedAsTwoEntries) {
  CommitHistory history;
  record_applied(history, 1, 0, RaftEntry{Epoch(1), 0x11, 5});
  record_applied(history, 2, 0, RaftEntry{Epoch(1), 0x11, 5});
  CheckResult clean;
  check_applied_entries(history, clean);
  EXPECT_EQ(clean.verdict, Verdict::ok);
  record_applied(history, 3, 0, RaftEntry{Epoch(2), 0x22, 6});
  CheckResult result;
  check_applied_entries(history, result);
  expect_one_problem(result, Verdict::correctness, "offset 0 applied as epoch 1");
}

TEST(RaftCheckers, LeaderWithoutACommittedEntry) {
  CommitHistory history;
  record_applied(history, 1, 0, RaftEntry{Epoch(1), 0x11, 5});
  record_applied(history, 1, 1, RaftEntry{Epoch(1), 0x12, 6});
  // Holds both entries, in epoch 1: complete.
  record_election(history, 2, Epoch(2),
                  LogShape{{{Epoch(1), record::Offset(0)}}, record::Offset(2)});
  CheckResult clean;
  check_leader_completeness(history, clean);
  EXPECT_EQ(clean.verdict, Verdict::ok);
  // Holds only offset 0.
  record_election(history, 3, Epoch(3),
                  LogShape{{{Epoch(1), record::Offset(0)}}, record::Offset(1)});
  // An entry applied after an election does not bind that leader.
  record_applied(history, 2, 2, RaftEntry{Epoch(2), 0x13, 7});
  CheckResult result;
  check_leader_completeness(history, result);
  expect_one_problem(result, Verdict::correctness,
                     "node 3 leads epoch 3 without committed offset 1 (epoch 1); it holds nothing");
}

// A candidate whose votes arrive late leads an epoch that an election above it had
// already superseded: it commits nothing, and lacks what the newer epoch committed —
// Raft does not promise it that entry. A leader of a newer epoch does.
TEST(RaftCheckers, ALateLeaderOfASupersededEpochNeedNotHoldNewerCommits) {
  CommitHistory history;
  record_election(history, 1, Epoch(3), LogShape{{}, record::Offset(0)});
  record_applied(history, 1, 0, RaftEntry{Epoch(3), 0x31, 5});
  record_election(history, 2, Epoch(2), LogShape{{}, record::Offset(0)});
  CheckResult clean;
  check_leader_completeness(history, clean);
  EXPECT_EQ(clean.verdict, Verdict::ok);
  record_election(history, 3, Epoch(4), LogShape{{}, record::Offset(0)});
  CheckResult result;
  check_leader_completeness(history, result);
  expect_one_problem(result, Verdict::correctness,
                     "node 3 leads epoch 4 without committed offset 0 (epoch 3); it holds nothing");
}

TEST(RaftCheckers, CommitOverAnEarlierEpochsEntry) {
  CommitHistory history;
  record_leader_commit(history, 1, Epoch(2), 5, Epoch(2));
  CheckResult clean;
  check_commitment_rule(history, clean);
  EXPECT_EQ(clean.verdict, Verdict::ok);
  record_leader_commit(history, 2, Epoch(3), 7, Epoch(2));
  CheckResult result;
  check_commitment_rule(history, result);
  expect_one_problem(result, Verdict::correctness,
                     "leader of epoch 3, moved the high watermark to 7");
}

FinalLogs matching_logs() {
  FinalLogs final;
  const std::vector<std::pair<int64_t, RaftEntry>> log = {{0, RaftEntry{Epoch(1), 0x10, 0}},
                                                          {1, RaftEntry{Epoch(1), 0x11, 5}},
                                                          {2, RaftEntry{Epoch(2), 0x12, 6}}};
  for (int node = 1; node <= 3; node++) {
    final.logs[node] = log;
    final.high_watermarks[node] = 3;
  }
  return final;
}

TEST(RaftCheckers, CleanFinalLogsPass) {
  FinalLogs final = matching_logs();
  CommitHistory commits;
  record_applied(commits, 1, 1, RaftEntry{Epoch(1), 0x11, 5});
  const std::vector<LogWrite> appends = {{.value = 5, .outcome = Outcome::ok, .offset = 1},
                                         {.value = 8, .outcome = Outcome::unknown}};
  CheckResult result;
  check_final_logs_read(final, 3, result);
  check_log_matching(final, result);
  check_applied_survive(commits, final, result);
  check_append_durability(appends, final, result);
  check_final_convergence(final, result);
  EXPECT_EQ(result.verdict, Verdict::ok);
  EXPECT_TRUE(result.problems.empty()) << ::testing::PrintToString(result.problems);
}

TEST(RaftCheckers, LogsThatAgreeAfterDiffering) {
  FinalLogs final = matching_logs();
  final.logs[3][1].second = RaftEntry{Epoch(1), 0x99, 9};  // a diverged entry never truncated
  CheckResult result;
  check_log_matching(final, result);
  EXPECT_EQ(result.verdict, Verdict::correctness);
  ASSERT_EQ(result.problems.size(), 2u);  // node 3 against nodes 1 and 2
  EXPECT_NE(result.problems[0].find("log matching: node 1 and node 3 agree at offset 2"),
            std::string::npos)
      << result.problems[0];
}

TEST(RaftCheckers, LostAcknowledgedAppend) {
  FinalLogs final = matching_logs();
  final.logs[2].pop_back();
  final.high_watermarks[2] = 2;
  const std::vector<LogWrite> appends = {{.value = 6, .outcome = Outcome::ok, .offset = 2}};
  CheckResult result;
  check_append_durability(appends, final, result);
  expect_one_problem(result, Verdict::correctness,
                     "acknowledged append 6 at offset 2 is not in node 2's final log");
  CheckResult converged;
  check_final_convergence(final, converged);
  expect_one_problem(converged, Verdict::liveness, "the final high watermarks differ: 2, 3");
}

TEST(RaftCheckers, CommittedEntryMissingFromAFinalLog) {
  FinalLogs final = matching_logs();
  CommitHistory commits;
  record_applied(commits, 1, 2, RaftEntry{Epoch(2), 0x12, 6});
  final.logs[1][2].second.crc = 0x77;
  CheckResult result;
  check_applied_survive(commits, final, result);
  expect_one_problem(result, Verdict::correctness,
                     "committed offset 2 (epoch 2) is different in node 1's");
}

// --- admin.h and disk.h ------------------------------------------------------------------

metadata::TopicId topic_id(uint8_t seed) {
  metadata::TopicId id;
  for (size_t i = 0; i < id.uuid.bytes.size(); i++)
    id.uuid.bytes[i] = static_cast<uint8_t>(seed + i);
  return id;
}

// An image with broker 11 and topic "a" (one partition, on broker 11) whose
// retention.ms is 60001.
metadata::Image sample_image() {
  metadata::MetadataState state;
  metadata::RegisterBrokerRecord broker;
  broker.broker_id = metadata::BrokerId(11);
  broker.broker_epoch = metadata::BrokerEpoch(1);
  broker.endpoints.push_back(metadata::BrokerEndpoint{"PLAINTEXT", "b11", 9092});
  metadata::PartitionRecord partition;
  partition.partition_id = metadata::PartitionId(0);
  partition.topic_id = topic_id(1);
  partition.replicas = {metadata::BrokerId(11)};
  partition.isr = {metadata::BrokerId(11)};
  partition.leader = metadata::BrokerId(11);
  partition.leader_epoch = metadata::LeaderEpoch(0);
  partition.partition_epoch = metadata::PartitionEpoch(0);
  const std::vector<metadata::Record> records = {
      broker, metadata::TopicRecord{"a", topic_id(1)}, partition,
      metadata::ConfigRecord{metadata::ConfigResourceType::topic, "a", "retention.ms", "60001"}};
  auto applied = state.apply_all(records);
  EXPECT_TRUE(applied.ok());
  return state.image();
}

// Creation of "a" acknowledged (at 1 s, seen by broker 11's Metadata at 2 s), a refused
// creation of "b", retention.ms of "a" set to 60001, deletion of "c" acknowledged.
AdminHistory clean_admin() {
  AdminHistory history;
  history.ops = {
      {.kind = AdminKind::create,
       .topic = "a",
       .broker = 11,
       .invoked = at_ms(500),
       .completed = at_ms(1000),
       .outcome = Outcome::ok,
       .topic_id = topic_id(1).uuid},
      {.kind = AdminKind::create,
       .topic = "b",
       .broker = 11,
       .invoked = at_ms(600),
       .completed = at_ms(700),
       .outcome = Outcome::failed,
       .error = 37},
      {.kind = AdminKind::configure,
       .topic = "a",
       .value = "60001",
       .broker = 12,
       .invoked = at_ms(1100),
       .outcome = Outcome::unknown},
      {.kind = AdminKind::remove,
       .topic = "c",
       .broker = 12,
       .invoked = at_ms(1200),
       .completed = at_ms(1300),
       .outcome = Outcome::ok},
  };
  history.probes = {
      {.broker = 11, .sent = at_ms(2000), .topics = {{"a", topic_id(1).uuid}}},
      {.broker = 12, .sent = at_ms(2000), .topics = {{"a", topic_id(1).uuid}}},
  };
  return history;
}

TEST(AdminCheckers, CleanHistoryPasses) {
  const metadata::Image image = sample_image();
  ASSERT_NE(image.topic("a"), nullptr);
  CheckResult result;
  check_admin_linearizable(clean_admin(), image, "retention.ms", result);
  check_read_your_writes(clean_admin(), result);
  check_admin_progress(clean_admin(), at_ms(400), result);
  EXPECT_EQ(result.verdict, Verdict::ok);
  EXPECT_TRUE(result.problems.empty()) << ::testing::PrintToString(result.problems);
  EXPECT_EQ(acknowledged_ops(clean_admin()), 2u);
}

TEST(AdminCheckers, AcknowledgedCreationMissing) {
  AdminHistory history = clean_admin();
  history.ops.push_back({.kind = AdminKind::create,
                         .topic = "d",
                         .broker = 13,
                         .outcome = Outcome::ok,
                         .topic_id = topic_id(4).uuid});
  CheckResult result;
  check_admin_linearizable(history, sample_image(), "retention.ms", result);
  expect_one_problem(result, Verdict::correctness,
                     "the acknowledged creation of d (broker 13, at 0) is missing");
}

TEST(AdminCheckers, RefusedCreationTookEffect) {
  AdminHistory history = clean_admin();
  history.ops[0].outcome = Outcome::failed;
  CheckResult result;
  check_admin_linearizable(history, sample_image(), "retention.ms", result);
  expect_one_problem(result, Verdict::correctness, "the creation of a was refused");
}

TEST(AdminCheckers, AcknowledgedDeletionUndone) {
  AdminHistory history = clean_admin();
  history.ops.push_back(
      {.kind = AdminKind::remove, .topic = "a", .broker = 12, .outcome = Outcome::ok});
  CheckResult result;
  check_admin_linearizable(history, sample_image(), "retention.ms", result);
  expect_one_problem(result, Verdict::correctness, "the acknowledged deletion of a");
}

TEST(AdminCheckers, ConfigValueNobodyAskedFor) {
  AdminHistory history = clean_admin();
  history.ops[2].outcome = Outcome::failed;  // the only request for 60001 was refused
  CheckResult result;
  check_admin_linearizable(history, sample_image(), "retention.ms", result);
  expect_one_problem(result, Verdict::correctness, "retention.ms of a is 60001");
}

TEST(AdminCheckers, ReadYourWritesViolations) {
  AdminHistory history = clean_admin();
  history.probes.push_back({.broker = 11, .sent = at_ms(3000), .topics = {}});
  CheckResult missing;
  check_read_your_writes(history, missing);
  expect_one_problem(missing, Verdict::correctness,
                     "broker 11 acknowledged the creation of a at 1, then answered Metadata "
                     "at 3 without it");
  history = clean_admin();
  history.probes.push_back({.broker = 12, .sent = at_ms(3000), .topics = {{"c", {}}}});
  CheckResult listed;
  check_read_your_writes(history, listed);
  expect_one_problem(listed, Verdict::correctness,
                     "broker 12 acknowledged the deletion of c at 1.3, then listed it");
  // The deleted topic's id known: listing that id is the violation; a topic of the same
  // name with another id is a later creation of the name, not the deleted topic.
  history = clean_admin();
  for (AdminOp& op : history.ops) {
    if (op.kind == AdminKind::remove) op.topic_id.bytes[0] = 7;
  }
  protocol::Uuid deleted;
  deleted.bytes[0] = 7;
  protocol::Uuid recreated;
  recreated.bytes[0] = 8;
  history.probes.push_back({.broker = 12, .sent = at_ms(3000), .topics = {{"c", recreated}}});
  CheckResult other_id;
  check_read_your_writes(history, other_id);
  EXPECT_EQ(other_id.verdict, Verdict::ok);
  history.probes.push_back({.broker = 12, .sent = at_ms(3100), .topics = {{"c", deleted}}});
  CheckResult same_id;
  check_read_your_writes(history, same_id);
  expect_one_problem(same_id, Verdict::correctness,
                     "broker 12 acknowledged the deletion of c at 1.3, then listed it");
  // A probe sent before the acknowledgement, or to another broker, binds nothing.
  history = clean_admin();
  history.probes.push_back({.broker = 11, .sent = at_ms(900), .topics = {}});
  history.probes.push_back({.broker = 13, .sent = at_ms(3000), .topics = {}});
  CheckResult clean;
  check_read_your_writes(history, clean);
  EXPECT_EQ(clean.verdict, Verdict::ok);
}

TEST(AdminCheckers, NoProgressAfterHealing) {
  CheckResult result;
  check_admin_progress(clean_admin(), at_ms(1250), result);
  expect_one_problem(result, Verdict::liveness, "no admin operation was acknowledged");
}

TEST(DiskCheckers, ConvergedDiskPasses) {
  DiskHistory disks;
  disks[11] = DiskObservation{sample_image(), {"a-0"}};
  CheckResult result;
  check_disk_convergence(disks, {11}, result);
  EXPECT_EQ(result.verdict, Verdict::ok);
  EXPECT_TRUE(result.problems.empty()) << ::testing::PrintToString(result.problems);
}

TEST(DiskCheckers, StrayAndMissingDirectories) {
  DiskHistory disks;
  disks[11] = DiskObservation{sample_image(), {"a-0", "deleted-0"}};
  CheckResult stray;
  check_disk_convergence(disks, {11}, stray);
  expect_one_problem(stray, Verdict::correctness,
                     "broker 11's disk does not match its image: missing [], not placed there "
                     "[deleted-0]");
  disks[11].directories = {};
  CheckResult missing;
  check_disk_convergence(disks, {11}, missing);
  expect_one_problem(missing, Verdict::correctness, "missing [a-0]");
  CheckResult unreconciled;
  check_disk_convergence(disks, {11, 12}, unreconciled);
  EXPECT_EQ(unreconciled.verdict, Verdict::correctness);  // correctness outranks liveness
  ASSERT_EQ(unreconciled.problems.size(), 2u);
  EXPECT_NE(unreconciled.problems[1].find("broker 12 never reconciled"), std::string::npos);
}

// --- contracts.h --------------------------------------------------------------------------

// clean_log() with acknowledged write 2 (sent at 20 ms, partition 0 offset 1) gone from
// the final log and never read: whether that is a failure depends on the contract.
LogHistory log_losing_write_2() {
  LogHistory history = clean_log();
  (*history.final_log)[0] = {{0, 1}};
  history.reads.erase(LogPosition{0, 1});
  return history;
}

// One partition, replicas 11 and 12: broker 11 led epoch 1 from 0 ms until `ended`;
// broker 12 leads epoch 2 from then on.
ReplicationEvents failover_at(Instant ended) {
  ReplicationEvents events;
  PartitionEvents& partition = events.partitions.emplace_back();
  partition.leaderships = {{11, 1, at_ms(0), ended}, {12, 2, ended, std::nullopt}};
  partition.highest_epoch = 2;
  return events;
}

TEST(ContractCheckers, ALossNothingPermitsFails) {
  CheckResult result;
  check_log_contracts(log_losing_write_2(), WriteContract{}, failover_at(at_ms(25)), "s0", result);
  // acks=all: a clean leader change permits no loss.
  expect_one_problem(result, Verdict::correctness, "s0: acknowledged write 2 (acks=-1");
  EXPECT_NE(result.problems[0].find("nothing permits it"), std::string::npos);
}

TEST(ContractCheckers, Acks1MayLoseWhatAReplacedLeaderAcknowledged) {
  CheckResult result;
  const ContractReport report =
      check_log_contracts(log_losing_write_2(), WriteContract{.acks = 1, .idempotent = false},
                          failover_at(at_ms(25)), "s1", result);
  EXPECT_EQ(result.verdict, Verdict::ok);
  EXPECT_EQ(report.lost_writes.at(Permit::acks1_leader_replaced), 1u);
  EXPECT_TRUE(result.problems.empty());
  ASSERT_EQ(result.notes.size(), 1u);  // the note that explains it
  EXPECT_NE(result.notes[0].find("permitted by acks=1 and partition 0's leader was replaced"),
            std::string::npos);
  EXPECT_EQ(report.summary(), "lost[acks1-leader-replaced]=1");
}

TEST(ContractCheckers, Acks1LossAfterTheOldLeadershipEndedFails) {
  // Write 2 was sent at 20 ms, after epoch 1 ended at 15 ms: only epoch 2, never
  // replaced, could have acknowledged it.
  CheckResult result;
  check_log_contracts(log_losing_write_2(), WriteContract{.acks = 1, .idempotent = false},
                      failover_at(at_ms(15)), "s1", result);
  EXPECT_EQ(result.verdict, Verdict::correctness);
}

TEST(ContractCheckers, UncleanElectionPermitsLossOnlyWhereConfigured) {
  ReplicationEvents events = failover_at(at_ms(25));
  events.partitions[0].unclean_elections.emplace(2, at_ms(26));
  CheckResult allowed;
  const ContractReport report = check_log_contracts(
      log_losing_write_2(), WriteContract{.unclean_allowed = true}, events, "s2", allowed);
  EXPECT_EQ(allowed.verdict, Verdict::ok);
  EXPECT_EQ(report.lost_writes.at(Permit::unclean_election), 1u);

  CheckResult forbidden;
  check_log_contracts(log_losing_write_2(), WriteContract{}, events, "s2", forbidden);
  EXPECT_EQ(forbidden.verdict, Verdict::correctness);
  EXPECT_NE(forbidden.problems[0].find("elected a leader uncleanly (epoch 2"), std::string::npos)
      << forbidden.problems[0];
}

TEST(ContractCheckers, AZombieLeaderServesUntilItLearnsOfTheUncleanElection) {
  // The unclean election was applied at 5 ms, but epoch 1's leader went on until 25 ms:
  // write 2, sent at 20 ms, may have been acknowledged by it.
  ReplicationEvents events = failover_at(at_ms(25));
  events.partitions[0].unclean_elections.emplace(2, at_ms(5));
  CheckResult result;
  check_log_contracts(log_losing_write_2(), WriteContract{.unclean_allowed = true}, events, "s2",
                      result);
  EXPECT_EQ(result.verdict, Verdict::ok);
}

TEST(ContractCheckers, UnsyncedLossNeedsALeaderThatLostItsWritesAndDidNotCatchUp) {
  // Write 2 was sent at 20 ms; 12 took over from 11 at 25 ms.
  ReplicationEvents events = failover_at(at_ms(25));
  const WriteContract unsynced{.fsync = false};
  // The old leader lost power after it stopped leading: 12 still had the write.
  events.power_losses[11] = {at_ms(30)};
  CheckResult old_leader;
  check_log_contracts(log_losing_write_2(), unsynced, events, "s3", old_leader);
  EXPECT_EQ(old_leader.verdict, Verdict::correctness);
  // The new leader lost power before it was elected: it may have led without the write.
  events.power_losses[12] = {at_ms(22)};
  CheckResult new_leader;
  const ContractReport report =
      check_log_contracts(log_losing_write_2(), unsynced, events, "s3", new_leader);
  EXPECT_EQ(new_leader.verdict, Verdict::ok);
  EXPECT_EQ(report.lost_writes.at(Permit::unsynced_power_loss), 1u);
  // ... unless a leader took it into the ISR in between: it had caught up again.
  events.partitions[0].isr_expansions[12] = {at_ms(24)};
  CheckResult caught_up;
  check_log_contracts(log_losing_write_2(), unsynced, events, "s3", caught_up);
  EXPECT_EQ(caught_up.verdict, Verdict::correctness);
  // ... or if the controllers knew it had restarted (it registered again at 23 ms)
  // before they elected it at 24 ms: from the ISR or the ELR that is KIP-966's bug ...
  events.partitions[0].isr_expansions.clear();
  events.registrations[12] = {at_ms(23)};
  events.partitions[0].elected_at[2] = at_ms(24);
  CheckResult known_restart;
  check_log_contracts(log_losing_write_2(), unsynced, events, "s3", known_restart);
  EXPECT_EQ(known_restart.verdict, Verdict::correctness);
  // ... unless it was elected as the last known leader (balanced recovery, as Kafka).
  events.partitions[0].last_known_leader_elections.insert(2);
  CheckResult last_known;
  check_log_contracts(log_losing_write_2(), unsynced, events, "s3", last_known);
  EXPECT_EQ(last_known.verdict, Verdict::ok);
  events.partitions[0].last_known_leader_elections.clear();
  events.registrations.clear();
  // A loss before the write explains nothing; fsync on, nothing at all.
  events.power_losses[12] = {at_ms(19)};
  CheckResult before;
  check_log_contracts(log_losing_write_2(), unsynced, events, "s3", before);
  EXPECT_EQ(before.verdict, Verdict::correctness);
  events.power_losses[12] = {at_ms(22)};
  CheckResult synced;
  check_log_contracts(log_losing_write_2(), WriteContract{}, events, "s3", synced);
  EXPECT_EQ(synced.verdict, Verdict::correctness);
}

TEST(ContractCheckers, DuplicatesArePermittedOnlyWithoutIdempotence) {
  LogHistory history = clean_log();
  (*history.final_log)[0].emplace_back(3, 2);  // write 2 stored again at offset 3
  CheckResult plain;
  const ContractReport report = check_log_contracts(history, WriteContract{.idempotent = false},
                                                    failover_at(at_ms(25)), "s4", plain);
  EXPECT_EQ(plain.verdict, Verdict::ok);
  EXPECT_EQ(report.plain_duplicates, 1u);
  CheckResult idempotent;
  check_log_contracts(history, WriteContract{}, failover_at(at_ms(25)), "s4", idempotent);
  expect_one_problem(idempotent, Verdict::correctness, "value 2 stored twice by an idempotent");
}

TEST(ContractCheckers, ACommittedReadThatVanishesNeedsMoreThanAcks1) {
  // A consumer read write 2 at 40 ms, so it was committed: acks=1's permit does not
  // cover it, even though the write itself was acks=1 and its leader was replaced.
  LogHistory history = log_losing_write_2();
  record_read(history, {0, 1}, 2, "a consumer", at_ms(40));
  ReplicationEvents events = failover_at(at_ms(50));
  CheckResult result;
  check_log_contracts(history, WriteContract{.acks = 1, .idempotent = false}, events, "s5", result);
  EXPECT_EQ(result.verdict, Verdict::correctness);
  bool read_failed = false;
  for (const std::string& problem : result.problems) {
    read_failed |= problem.find(
                       "read 2 at partition 0 offset 1; the final log has nothing, and "
                       "nothing permits it") != std::string::npos;
  }
  EXPECT_TRUE(read_failed) << ::testing::PrintToString(result.problems);
}

TEST(ContractCheckers, AChangeSeenBeforeThePowerLossIsNotExplainedByIt) {
  // Offset 1 read as 2 at 40 ms and as 9 at 60 ms, on an unsynced topic. 11 led again
  // from 55 ms; it lost power — but only at 70 ms, after the change was seen. Nothing
  // explains it then.
  LogHistory history = clean_log();
  history.reads.erase(LogPosition{0, 1});
  record_read(history, {0, 1}, 2, "a consumer", at_ms(40));
  record_read(history, {0, 1}, 9, "a consumer", at_ms(60));
  ReplicationEvents events = failover_at(at_ms(25));
  events.partitions[0].leaderships[1].ended = at_ms(50);
  events.partitions[0].leaderships.push_back({11, 3, at_ms(55), std::nullopt});
  events.power_losses[11] = {at_ms(70)};
  CheckResult late;
  check_log_contracts(history, WriteContract{.fsync = false}, events, "s6", late);
  bool unexplained = false;
  for (const std::string& problem : late.problems) {
    unexplained |= problem.find("offset 1 read as 2") != std::string::npos &&
                   problem.find("nothing permits it") != std::string::npos;
  }
  EXPECT_TRUE(unexplained) << ::testing::PrintToString(late.problems);
  // Power lost at 50 ms, between the first read and its leadership: permitted.
  events.power_losses[11] = {at_ms(50)};
  CheckResult early;
  const ContractReport report =
      check_log_contracts(history, WriteContract{.fsync = false}, events, "s6", early);
  EXPECT_EQ(report.changed_reads.count(Permit::unsynced_power_loss), 1u)
      << ::testing::PrintToString(early.problems);
}

TEST(EpochLedger, OneLeaderPerEpochAndOneBatchPerOffset) {
  EpochLedger ledger;
  ledger.record(0, 11, 1, 0, 2, 0xaa);
  ledger.record(0, 11, 1, 3, 3, 0xbb);
  ledger.record(0, 11, 1, 3, 3, 0xbb);  // the same batch again: fine
  ledger.record(0, 12, 2, 4, 4, 0xcc);
  ledger.record(1, 12, 1, 0, 0, 0xdd);  // another partition's epoch 1
  CheckResult clean;
  ledger.check("s0", clean);
  EXPECT_EQ(clean.verdict, Verdict::ok);
  EXPECT_EQ(ledger.batches(), 4u);

  EpochLedger two_leaders = ledger;
  two_leaders.record(0, 13, 2, 5, 5, 0xee);
  two_leaders.record(0, 13, 2, 6, 6, 0xef);  // reported once
  CheckResult leaders;
  two_leaders.check("s0", leaders);
  expect_one_problem(leaders, Verdict::correctness,
                     "s0: partition 0: leader epoch 2 was written by brokers 12 and 13");

  EpochLedger two_batches = ledger;
  two_batches.record(0, 11, 1, 3, 4, 0xbc);  // offset 3 of epoch 1 again, another batch
  CheckResult batches;
  two_batches.check("s0", batches);
  expect_one_problem(batches, Verdict::correctness,
                     "s0: partition 0: offset 3 of leader epoch 1 holds [3..3] crc 000000bb "
                     "(broker 11) and [3..4] crc 000000bc (broker 11)");
}

// --- Replica agreement below the high watermark -----------------------------------------

ReplicaAudit audit(int32_t broker, bool leader, int64_t high_watermark,
                   std::vector<AuditedBatch> batches) {
  ReplicaAudit out;
  out.broker = broker;
  out.leader = leader;
  out.high_watermark = high_watermark;
  out.log_start = batches.empty() ? 0 : batches.front().base_offset;
  out.log_end = batches.empty() ? 0 : batches.back().last_offset + 1;
  out.batches = std::move(batches);
  return out;
}

TEST(ReplicaChecker, InSyncReplicasAgreeBelowTheHighWatermark) {
  const std::vector<AuditedBatch> log{{0, 4, 1, 0xa}, {5, 9, 1, 0xb}, {10, 12, 2, 0xc}};
  // The follower lacks the last batch (it fetches next) and its tail past the high
  // watermark may differ: neither is divergence.
  std::vector<AuditedBatch> follower(log.begin(), log.begin() + 2);
  follower.push_back({10, 11, 3, 0xd});
  CheckResult result;
  EXPECT_EQ(check_replicas_agree("s0-0", {audit(1, true, 10, log), audit(2, false, 5, follower)},
                                 {1, 2}, result),
            1);
  EXPECT_EQ(result.verdict, Verdict::ok) << ::testing::PrintToString(result.problems);
}

TEST(ReplicaChecker, ABatchThatDiffersBelowTheHighWatermarkIsCaught) {
  // The follower kept a batch of an epoch the leader never wrote (it skipped the
  // truncation the leader's DivergingEpoch answer asked for).
  const std::vector<AuditedBatch> log{{0, 4, 1, 0xa}, {5, 9, 2, 0xb}, {10, 12, 2, 0xc}};
  const std::vector<AuditedBatch> kept{{0, 4, 1, 0xa}, {5, 9, 1, 0xe}, {10, 12, 2, 0xc}};
  CheckResult result;
  check_replicas_agree("s0-0", {audit(1, true, 13, log), audit(3, false, 13, kept)}, {1, 3},
                       result);
  expect_one_problem(result, Verdict::correctness,
                     "in-sync replica 3 diverges from leader 1 below its high watermark 13: at "
                     "offset 5");
}

TEST(ReplicaChecker, DifferentBatchBoundariesAreCaught) {
  const std::vector<AuditedBatch> log{{0, 4, 1, 0xa}, {5, 9, 1, 0xb}};
  const std::vector<AuditedBatch> split{{0, 2, 1, 0xf}, {3, 9, 1, 0xb}};
  CheckResult result;
  check_replicas_agree("s0-0", {audit(1, true, 10, log), audit(2, false, 10, split)}, {1, 2},
                       result);
  expect_one_problem(result, Verdict::correctness, "at offset 0");
}

TEST(ReplicaChecker, AReplicaOutsideTheIsrIsNotJudged) {
  // Still to be truncated: the leader has not heard from it since it came back.
  const std::vector<AuditedBatch> log{{0, 4, 1, 0xa}, {5, 9, 2, 0xb}};
  const std::vector<AuditedBatch> stale{{0, 4, 1, 0xa}, {5, 9, 1, 0xe}};
  CheckResult result;
  EXPECT_EQ(check_replicas_agree("s0-0", {audit(1, true, 10, log), audit(2, false, 5, stale)}, {1},
                                 result),
            0);
  EXPECT_EQ(result.verdict, Verdict::ok);
}

}  // namespace
}  // namespace weir::sim::checkers
