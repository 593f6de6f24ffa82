#!/usr/bin/env python3
"""End-to-end tests of the weir-sim command: each runs weir-sim as a separate process.

- Determinism: one seed run twice, in two processes, prints the same trace hash;
  different seeds print different hashes; a seed's hash does not depend on the sweep
  it runs in.
- The correct workload passes a CI sweep of seeds.
- Each planted flaw is caught within a bounded number of seeds, with the right exit
  code, and the printed replay command reproduces the failure bit for bit.
- Bad input is refused with exit code 2 and a message naming the argument.
"""
import re
import subprocess
import sys
import unittest

WEIR_SIM = sys.argv.pop(1) if len(sys.argv) > 1 else "build/sim/weir-sim"
SWEEP_SEEDS = "1..100"
LINE = re.compile(r"^seed (\d+) hash ([0-9a-f]{16}) verdict (\w+)")


def run(*args):
    return subprocess.run([WEIR_SIM, *args], capture_output=True, text=True, timeout=900)


def verdicts(output):
    """seed -> (hash, verdict) for every per-seed line."""
    found = {}
    for line in output.splitlines():
        match = LINE.match(line)
        if match:
            found[int(match.group(1))] = (match.group(2), match.group(3))
    return found


class Determinism(unittest.TestCase):
    def test_same_seed_same_hash_in_separate_processes(self):
        first, second = run("--seed", "7"), run("--seed", "7")
        self.assertEqual(first.returncode, 0, first.stdout + first.stderr)
        self.assertEqual(verdicts(first.stdout), verdicts(second.stdout))
        self.assertIn(7, verdicts(first.stdout))

    def test_different_seeds_differ(self):
        hashes = {seed: h for seed, (h, _) in verdicts(run("--seeds", "1..5").stdout).items()}
        self.assertEqual(len(hashes), 5)
        self.assertEqual(len(set(hashes.values())), 5, hashes)

    def test_seed_independent_of_sweep(self):
        alone = verdicts(run("--seed", "3").stdout)[3]
        in_sweep = verdicts(run("--seeds", "1..4").stdout)[3]
        self.assertEqual(alone, in_sweep)

    def test_trace_file_matches_run(self):
        import os
        import tempfile
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "trace.txt")
            result = run("--seed", "11", "--trace", path)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            with open(path) as trace:
                lines = trace.read().splitlines()
            self.assertGreater(len(lines), 1000)
            self.assertTrue(any(" node.start " in line for line in lines))
            # Keeping the trace must not change the run.
            self.assertEqual(verdicts(result.stdout), verdicts(run("--seed", "11").stdout))


class Sweep(unittest.TestCase):
    def test_correct_workload_passes_ci_sweep(self):
        result = run("--seeds", SWEEP_SEEDS)
        self.assertEqual(result.returncode, 0, result.stdout[-4000:] + result.stderr)
        found = verdicts(result.stdout)
        first, last = map(int, SWEEP_SEEDS.split(".."))
        self.assertEqual(len(found), last - first + 1)
        self.assertTrue(all(v == "ok" for _, v in found.values()))
        # The sweep really injected faults of every kind.
        for kind in ("process.crash", "disk.sync_error", "disk.read_corruption",
                     "net.partition_full", "net.clog", "net.reset", "disk.torn_sector"):
            self.assertRegex(result.stdout, rf"fault {re.escape(kind)} x[1-9]")


class Flaws(unittest.TestCase):
    def caught(self, flaw, allowed_verdicts, seeds="1..60", workload=()):
        result = run("--seeds", seeds, "--flaw", flaw, *workload)
        found = verdicts(result.stdout)
        failing = [(seed, v) for seed, (_, v) in sorted(found.items()) if v != "ok"]
        self.assertTrue(failing, f"--flaw {flaw} was not caught in seeds {seeds}")
        codes = {"crash": 3, "liveness": 4, "correctness": 5}
        self.assertIn(result.returncode, {3, 5} | {codes[v] for v in allowed_verdicts},
                      result.stdout[-2000:])
        seed, verdict = failing[0]
        self.assertIn(verdict, allowed_verdicts)
        # Without the flaw the same seed passes: the flaw, not the seed, is caught.
        clean = verdicts(run("--seed", str(seed), *workload).stdout)
        self.assertEqual(clean.get(seed, (None, None))[1], "ok",
                         f"seed {seed} fails without --flaw {flaw}")
        # The replay command printed for the first failure reproduces it exactly.
        replay = re.search(rf"replay: weir-sim (--seed {seed} .*)$", result.stdout, re.M)
        self.assertIsNotNone(replay)
        again = run(*replay.group(1).split())
        self.assertEqual(verdicts(again.stdout)[seed], found[seed])
        return result

    def test_ack_before_fsync_is_caught(self):
        result = self.caught("ack-before-fsync", ("correctness",))
        # The log checkers (sim/checkers/log.h): the log's indexes are partition 0's offsets.
        self.assertRegex(result.stdout,
                         r"acknowledged write \d+ at partition 0 offset \d+ (lost|replaced)")

    def test_partition_leak_is_caught(self):
        result = self.caught("partition-leak", ("correctness",))
        self.assertIn("crossed the cut", result.stdout)

    def test_skip_checksum_is_caught(self):
        result = self.caught("skip-checksum", ("correctness", "crash"))
        self.assertRegex(result.stdout, r"which nobody wrote|read as \d+|the final log has|VERIFY")


class BrokerLog(unittest.TestCase):
    """The real broker (src/broker) and weir's client under the same faults."""

    def test_ci_sweep_passes(self):
        result = run("--workload", "broker_log", "--seeds", "1..40")
        self.assertEqual(result.returncode, 0, result.stdout[-4000:] + result.stderr)
        found = verdicts(result.stdout)
        self.assertEqual(len(found), 40)
        for kind in ("process.crash", "disk.sync_error", "disk.read_corruption",
                     "net.partition_full", "disk.torn_sector"):
            self.assertRegex(result.stdout, rf"fault {re.escape(kind)} x[1-9]")

    def test_regression_seeds(self):
        # Seeds that found bugs (docs/sim.md, "The broker workload"); 10, 12 and 31 are
        # in the sweep above.
        for seed in ("97", "126", "142"):
            result = run("--workload", "broker_log", "--seed", seed)
            self.assertEqual(result.returncode, 0, f"seed {seed}: " + result.stdout[-3000:])

    def test_ack_before_fsync_is_caught(self):
        result = Flaws.caught(self, "ack-before-fsync", ("correctness",), seeds="1..10",
                              workload=("--workload", "broker_log"))
        self.assertRegex(result.stdout,
                         r"acknowledged write \d+ at partition \d+ offset \d+ (lost|replaced)")


class Raft(unittest.TestCase):
    """The controller quorum (src/raft) of 3 or 5 voters under every fault kind."""

    RAFT = ("--workload", "raft")

    def test_ci_sweep_passes(self):
        result = run(*self.RAFT, "--seeds", "1..100")
        self.assertEqual(result.returncode, 0, result.stdout[-4000:] + result.stderr)
        found = verdicts(result.stdout)
        self.assertEqual(len(found), 100)
        self.assertRegex(result.stdout, r"voters=3 ")
        self.assertRegex(result.stdout, r"voters=5 ")
        for kind in ("process.crash", "nemesis.crash_after_vote", "nemesis.crash_after_win",
                     "nemesis.crash_after_append", "disk.sync_error", "disk.read_corruption",
                     "net.partition_full", "net.partition_one_way", "disk.torn_sector"):
            self.assertRegex(result.stdout, rf"fault {re.escape(kind)} x[1-9]")

    def test_regression_seeds(self):
        # Seeds that found storage bugs through the quorum (docs/sim.md, "The raft
        # workload").
        for seed in ("172", "174"):
            result = run(*self.RAFT, "--seed", seed)
            self.assertEqual(result.returncode, 0, f"seed {seed}: " + result.stdout[-3000:])

    def test_vote_twice_is_caught(self):
        result = Flaws.caught(self, "vote-twice", ("correctness",), seeds="1..20",
                              workload=self.RAFT)
        self.assertRegex(result.stdout, r"(vote safety|election safety): ")

    def test_vote_before_persist_is_caught(self):
        # A forgotten vote lets a second candidate win the epoch (election safety) or a
        # leader win without a committed entry (leader completeness).
        result = Flaws.caught(self, "vote-before-persist", ("correctness",),
                              seeds="1..70", workload=self.RAFT)
        self.assertRegex(result.stdout, r"(vote safety|election safety|leader completeness): ")

    def test_commit_by_count_is_caught(self):
        result = Flaws.caught(self, "commit-by-count", ("correctness",),
                              seeds="1..5", workload=self.RAFT)
        self.assertIn("commitment rule: ", result.stdout)

    def test_no_divergence_truncation_is_caught(self):
        result = Flaws.caught(self, "no-divergence-truncation", ("correctness",),
                              seeds="1..20", workload=self.RAFT)
        self.assertRegex(result.stdout, r"(state machine safety|log matching|committed offset)")


class Metadata(unittest.TestCase):
    """The cluster's metadata plane: controllers (src/cluster QuorumController over
    src/raft) and brokers following the log (BrokerLink), with admin clients."""

    METADATA = ("--workload", "metadata")

    def test_ci_sweep_passes(self):
        result = run(*self.METADATA, "--seeds", "1..60")
        self.assertEqual(result.returncode, 0, result.stdout[-4000:] + result.stderr)
        self.assertEqual(len(verdicts(result.stdout)), 60)
        self.assertRegex(result.stdout, r"voters=3 ")
        self.assertRegex(result.stdout, r"voters=5 ")
        for kind in ("process.crash", "process.kill", "disk.sync_error", "disk.read_corruption",
                     "net.partition_full", "net.partition_isolate", "disk.torn_sector"):
            self.assertRegex(result.stdout, rf"fault {re.escape(kind)} x[1-9]")
        # Half the seeds snapshot every few KiB: snapshots are taken, and nodes that fell
        # behind a leader's log start are sent them (FetchSnapshot) and install them.
        snapshots = [(int(taken), int(installed)) for taken, installed in
                     re.findall(r"snapshots=(\d+)/(\d+)", result.stdout)]
        self.assertEqual(len(snapshots), 60)
        self.assertGreaterEqual(sum(1 for taken, _ in snapshots if taken > 0), 20, snapshots)
        self.assertGreaterEqual(sum(1 for _, installed in snapshots if installed > 0), 10,
                                snapshots)

    def test_regression_seeds(self):
        # 931: a bit flipped in a batch's base offset (outside the CRC) on an observer's
        # read made its loader skip a record; its image differed from the others'.
        for seed in ("931",):
            result = run(*self.METADATA, "--seed", seed)
            self.assertEqual(result.returncode, 0, f"seed {seed}: " + result.stdout[-3000:])

    def test_answer_before_commit_is_caught(self):
        # Caught through the admin loop that talks to the controllers directly: a broker
        # forwarding the request answers only once its image (committed records only)
        # shows the change, which shields its clients from this flaw.
        result = Flaws.caught(self, "answer-before-commit", ("correctness",), seeds="1..6",
                              workload=self.METADATA)
        self.assertIn("linearizability: the acknowledged ", result.stdout)

    def test_diverging_images_are_caught(self):
        # Without divergence truncation a node keeps entries the quorum replaced: its
        # image differs from the others' at the same offset.
        # (A liveness verdict may come first: a diverged broker can stay fenced.)
        result = Flaws.caught(self, "no-divergence-truncation", ("correctness", "liveness"),
                              seeds="1..15", workload=self.METADATA)
        self.assertIn("state machine safety: ", result.stdout)


    def test_answer_before_catch_up_is_caught(self):
        # A broker that answers a forwarded change before its own image shows it: its
        # next Metadata answer contradicts what it acknowledged.
        result = Flaws.caught(self, "answer-before-catch-up", ("correctness",),
                              seeds="1..3", workload=self.METADATA)
        self.assertIn("read-your-writes: ", result.stdout)

    def test_keep_stray_partitions_is_caught(self):
        # A broker that never deletes the directories of partitions no longer placed on
        # it: after the final restart its disk holds a deleted topic's partitions.
        result = Flaws.caught(self, "keep-stray-partitions", ("correctness",),
                              seeds="1..3", workload=self.METADATA)
        self.assertRegex(result.stdout, r"disk|not placed")

    def test_snapshot_without_configs_is_caught(self):
        # A snapshot that forgets the configs: a node that loads it publishes, at the
        # snapshot's offset, an image that differs from the ones built from the log.
        result = Flaws.caught(self, "snapshot-without-configs", ("correctness",),
                              seeds="1..8", workload=self.METADATA)
        self.assertIn("state machine safety: ", result.stdout)


class Replication(unittest.TestCase):
    """Partition replication (src/replication, src/broker/replication.cc) on shipped
    nodes: three controllers, three to five brokers, and per seed three streams (topics
    of replication factor 1-5 with drawn min.insync.replicas, unclean election,
    flush.messages, and producers with acks 0/1/all, idempotent or not), eligible leader
    replicas (KIP-966) and partitions moved by reassignment, judged by the contracts
    checker (sim/checkers/contracts.h) and the epoch checker. Each planted flaw is
    replayed at the first seed (of 300) that catches it (docs/sim.md)."""

    REPLICATION = ("--workload", "replication")

    def test_ci_sweep_passes(self):
        result = run(*self.REPLICATION, "--seeds", "1..40")
        self.assertEqual(result.returncode, 0, result.stdout[-4000:] + result.stderr)
        self.assertEqual(len(verdicts(result.stdout)), 40)
        for kind in ("process.crash", "process.kill", "disk.sync_error", "net.partition_full",
                     "nemesis.isr_change", "nemesis.new_leader", "nemesis.elr",
                     "nemesis.truncation", "nemesis.unreplicated_append"):
            self.assertRegex(result.stdout, rf"fault {re.escape(kind)} x[1-9]")
        # Partitions move between brokers (AlterPartitionReassignments) under the faults.
        self.assertRegex(result.stdout, r"reassigned=[1-9]\d*/")
        # The replica checker compared in-sync replicas in every run.
        compared = [int(n) for n in re.findall(r"replicas_compared=(\d+)", result.stdout)]
        self.assertEqual(len(compared), 40)
        self.assertGreater(min(compared), 0, compared)
        # Leaders move and the ISR changes in every run.
        elections = [int(n) for n in re.findall(r"elections=(\d+)", result.stdout)]
        self.assertEqual(len(elections), 40)
        self.assertGreater(min(elections), 2, elections)
        # The mixes reach every setting, and losses the settings permit are explained.
        for setting in ("acks=0", "acks=1", "acks=-1 idempotent", "acks=-1]", "unclean",
                        "no-fsync", "brokers=3", "brokers=5"):
            self.assertIn(setting, result.stdout)
        self.assertRegex(result.stdout, r"lost\[acks1-leader-replaced\]=\d+")
        self.assertRegex(result.stdout, r"lost\[(unclean-election|unsynced-power-loss)\]=\d+")

    def test_regression_seeds(self):
        # Seed 159 found a controller answering AlterPartition from records it had not
        # committed (and never did): the leader waited forever for an image showing them,
        # and the ISR never grew again (docs/sim.md). Seed 559: a leader that recovered
        # its log mid-leadership forgot the ISR expansion it had sent, so its high
        # watermark passed an offset the expanding follower lacked — which the
        # completed reassignment then made leader (a committed read changed).
        for seed in ("159", "559"):
            result = run(*self.REPLICATION, "--seed", seed)
            self.assertEqual(result.returncode, 0, f"seed {seed}: " + result.stdout[-3000:])

    def test_seed_independent_of_sweep(self):
        alone = verdicts(run(*self.REPLICATION, "--seed", "3").stdout)[3]
        in_sweep = verdicts(run(*self.REPLICATION, "--seeds", "2..3").stdout)[3]
        self.assertEqual(alone, in_sweep)

    def test_ack_on_leader_is_caught(self):
        # acks=all answered once the leader has the batch: a leader that dies before
        # its followers fetched takes acknowledged records with it.
        result = Flaws.caught(self, "ack-on-leader", ("correctness",), seeds="5..5",
                              workload=self.REPLICATION)
        self.assertIn("nothing permits it", result.stdout)

    def test_shrink_isr_early_is_caught(self):
        # A shrink counted before it commits: the high watermark passes records a
        # replica the controller still holds in the ISR lacks; when it is elected they
        # are gone, after a consumer read them.
        result = Flaws.caught(self, "shrink-isr-early", ("correctness",), seeds="2..2",
                              workload=self.REPLICATION)
        self.assertIn("nothing permits it", result.stdout)

    def test_skip_follower_truncation_is_caught(self):
        # A follower that keeps its diverged records never gets past them: it never
        # rejoins the ISR (a liveness verdict), or its records surface.
        Flaws.caught(self, "skip-follower-truncation", ("correctness", "liveness"),
                     seeds="1..1", workload=self.REPLICATION)

    def test_skip_divergence_check_is_caught(self):
        # Followers matched by offset alone (before KIP-101): a follower's uncommitted
        # tail of an old epoch stays under the new leader's records, and it joins the
        # ISR diverged. The replica checker compares the in-sync logs below the high
        # watermark directly.
        result = Flaws.caught(self, "skip-divergence-check", ("correctness",), seeds="20..20",
                              workload=self.REPLICATION)
        self.assertRegex(result.stdout, r"in-sync replica \d+ diverges from leader \d+ below "
                                        r"its high watermark")

    def test_truncate_to_high_watermark_is_caught(self):
        # The pre-KIP-101 follower truncates to its own high watermark, which lags the
        # leader's: elected before it fetched again, it lacks acknowledged records.
        result = Flaws.caught(self, "truncate-to-hw", ("correctness",), seeds="11..11",
                              workload=self.REPLICATION)
        self.assertIn("nothing permits it", result.stdout)

    def test_serve_past_high_watermark_is_caught(self):
        # Consumers served up to the log end read records a failover then removes.
        # (Or a consumer that read past the high watermark is sent back to an earlier
        # offset once the records it read are gone.)
        result = Flaws.caught(self, "serve-past-hw", ("correctness",), seeds="2..2",
                              workload=self.REPLICATION)
        self.assertRegex(result.stdout, r"nothing permits it|the consumer returned offset")

    def test_truncate_to_leader_offset_is_caught(self):
        # KIP-101 before KIP-279: after fast failovers the follower keeps records of an
        # epoch the leader never had.
        Flaws.caught(self, "truncate-to-leader-offset", ("correctness", "liveness"),
                     seeds="12..12", workload=self.REPLICATION)

    def test_high_watermark_under_min_isr_is_caught(self):
        # KIP-966's strict rule broken: a replica that left an ISR below the minimum
        # lacks records the leader then committed; elected from the ELR, it loses them
        # after a consumer read them.
        result = Flaws.caught(self, "hw-under-min-isr", ("correctness",), seeds="216..216",
                              workload=self.REPLICATION)
        self.assertIn("nothing permits it", result.stdout)

    def test_elr_kept_after_unclean_restart_is_caught(self):
        # A broker that lost power keeps its ELR claim: elected, it lacks the unflushed
        # committed tail.
        result = Flaws.caught(self, "elr-keep-unclean-restart", ("correctness",),
                              seeds="17..17", workload=self.REPLICATION)
        self.assertIn("nothing permits it", result.stdout)

    def test_stamp_successor_epoch_is_caught(self):
        # Two leaders write one epoch: the epoch checker sees it directly.
        result = Flaws.caught(self, "stamp-successor-epoch", ("correctness", "liveness"),
                              seeds="18..18", workload=self.REPLICATION)
        self.assertRegex(result.stdout, r"leader epoch \d+ (was written by brokers|holds)|"
                                        r"offset \d+ of leader epoch")


class Groups(unittest.TestCase):
    """Consumer groups on shipped nodes: three controllers, three brokers (the group
    coordinator on replicated __consumer_offsets), a producer, three to five members
    running weir's GroupConsumer on faulty hosts (crashed, killed, paused past their
    session), manual or auto commit, and a prober of committed offsets — judged by the
    group checkers (sim/checkers/groups.h). Each planted coordinator flaw is replayed at
    the first seed that catches it (docs/sim.md)."""

    GROUPS = ("--workload", "groups")

    def test_ci_sweep_passes(self):
        result = run(*self.GROUPS, "--seeds", "1..40")
        self.assertEqual(result.returncode, 0, result.stdout[-4000:] + result.stderr)
        self.assertEqual(len(verdicts(result.stdout)), 40)
        for kind in ("process.crash", "process.kill", "process.pause", "net.partition_full",
                     "disk.sync_error"):
            self.assertRegex(result.stdout, rf"fault {re.escape(kind)} x[1-9]")
        # Members rebalance and commit under the faults, and the group settles.
        self.assertRegex(result.stdout, r"generations=([4-9]|\d\d)")
        self.assertRegex(result.stdout, r"commits_ok=[1-9]")
        self.assertNotIn("stable_after_heal_s=never", result.stdout)

    def test_regression_seeds(self):
        # Seed 120: the group was left without members while rebalancing after its
        # coordinator moved, and weir refused every joiner with INCONSISTENT_GROUP_PROTOCOL
        # (Kafka counts a protocol nobody names as supported by all 0 members).
        # 446: a member's commit raced its own leave and went out as a simple commit
        # (generation -1), which the Empty group took: stale positions over the next
        # owner's. 586, 614: a coordinator deposed without knowing it answered OffsetFetch
        # from memory, missing its successor's commits (now a leadership check first).
        for seed in ("120", "446", "586", "614"):
            result = run(*self.GROUPS, "--seed", seed)
            self.assertEqual(result.returncode, 0, f"seed {seed}: " + result.stdout[-3000:])

    def test_same_generation_is_caught(self):
        # A rebalance that keeps the generation number: two members own a partition
        # in one generation.
        result = Flaws.caught(self, "group-same-generation", ("correctness",), seeds="1..1",
                              workload=self.GROUPS)
        self.assertRegex(result.stdout, r"partition \d+ owned by m\d .* and by m\d .* in "
                                        r"generation \d+")

    def test_commit_any_generation_is_caught(self):
        # OffsetCommit without the generation check: a member that lost its partitions
        # commits its stale positions over the new owner's.
        result = Flaws.caught(self, "group-commit-any-generation", ("correctness",),
                              seeds="6..6", workload=self.GROUPS)
        self.assertRegex(result.stdout, r"committed offset moved backwards|is lost")

    def test_commit_before_durable_is_caught(self):
        # OffsetCommit answered before __consumer_offsets has it durably: a coordinator
        # failover loses an acknowledged commit.
        result = Flaws.caught(self, "group-commit-before-durable", ("correctness",),
                              seeds="6..6", workload=self.GROUPS)
        self.assertRegex(result.stdout, r"is lost|moved backwards")


    def test_load_to_high_watermark_is_caught(self):
        # A new coordinator that loads __consumer_offsets only to its high watermark
        # (which lags a new leader's log end, and starts at the log start after a
        # restart: weir keeps no high-watermark checkpoint yet) serves offsets without
        # the last acknowledged commits.
        result = Flaws.caught(self, "group-load-to-hw", ("correctness",), seeds="1..1",
                              workload=self.GROUPS)
        self.assertRegex(result.stdout, r"is lost|moved backwards")


class GroupsConsumer(unittest.TestCase):
    """The groups workload with KIP-848 members (group.protocol=consumer): the same
    cluster, faults and checkers, and exclusive ownership in time (no partition held by
    two members at once unless the earlier one had been dropped) in place of ownership
    per generation. Each planted flaw replayed at the first seed that catches it."""

    GROUPS = ("--workload", "groups-consumer")

    def test_ci_sweep_passes(self):
        result = run(*self.GROUPS, "--seeds", "1..30")
        self.assertEqual(result.returncode, 0, result.stdout[-4000:] + result.stderr)
        self.assertEqual(len(verdicts(result.stdout)), 30)
        for kind in ("process.crash", "process.pause", "net.partition_full"):
            self.assertRegex(result.stdout, rf"fault {re.escape(kind)} x[1-9]")
        # Members reconcile through many epochs and commit, and the group settles.
        self.assertRegex(result.stdout, r"generations=([4-9]|\d\d)")
        self.assertRegex(result.stdout, r"commits_ok=[1-9]")
        self.assertNotIn("stable_after_heal_s=never", result.stdout)

    def test_assign_before_revoke_is_caught(self):
        # The coordinator hands a partition on before its owner revoked it.
        result = Flaws.caught(self, "group-assign-before-revoke", ("correctness",),
                              seeds="1..1", workload=self.GROUPS)
        self.assertRegex(result.stdout, r"partition \d+ held by m\d .* and by m\d .* at once")

    def test_forget_consumer_state_is_caught(self):
        # A new coordinator ignores the groups' records and starts them afresh at once:
        # it hands out partitions members of the old one still hold.
        result = Flaws.caught(self, "group-forget-consumer-state", ("correctness",),
                              seeds="65..65", workload=self.GROUPS)
        self.assertRegex(result.stdout, r"partition \d+ held by m\d .* and by m\d .* at once")

    def test_commit_before_durable_is_caught(self):
        result = Flaws.caught(self, "group-commit-before-durable", ("correctness",),
                              seeds="7..7", workload=self.GROUPS)
        self.assertRegex(result.stdout, r"is lost|moved backwards")


class BadInput(unittest.TestCase):
    def refused(self, *args, mentions):
        result = run(*args)
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn(mentions, result.stderr)

    def test_unknown_option(self):
        self.refused("--seed", "1", "--frobnicate", mentions="--frobnicate")

    def test_malformed_seed_ranges(self):
        self.refused("--seeds", "5..3", mentions="5..3")
        self.refused("--seeds", "1..x", mentions="1..x")
        self.refused("--seeds", "12", mentions="12")
        self.refused("--seed", "-4", mentions="-4")

    def test_bad_duration_and_flaw(self):
        self.refused("--seed", "1", "--duration", "fast", mentions="--duration")
        self.refused("--seed", "1", "--flaw", "nope", mentions="nope")

    def test_no_seed(self):
        self.refused(mentions="--seed")


if __name__ == "__main__":
    unittest.main(verbosity=2)
