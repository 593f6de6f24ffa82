// replication: partition replication under faults, on shipped nodes — three
// controller nodes, three to five broker nodes (server::Node, as `weir server` runs
// them), and a client node running weir's own Kafka client (sim/workloads/log_client.h)
// — while brokers and controllers crash (power loss), are killed, paused, cut off by
// network partitions and see disk faults. Leaders move; followers truncate where they
// diverged and catch up; the ISR shrinks and grows.
//
// Each seed draws its mix (swarm testing): the broker count, and three streams — a
// topic and its producer. Stream 0 is the classic durable setup (replication factor 3,
// min.insync.replicas=2, idempotent acks=all, unclean election off, fsync on); streams
// 1 and 2 draw a replication factor of 1 to 5 (at most the brokers), min.insync.replicas,
// unclean.leader.election.enable, flush.messages (1, or Kafka's "trust replication"),
// acks (all, 1 or 0) and idempotence. Consumers read every stream from the start, over
// and over.
//
// Beside the world's random faults, a nemesis strikes where replication bugs hide: when
// a controller commits an ISR change it may crash or kill that partition's leader within
// 100 ms, and when it commits a new leader, that leader within 500 ms (fast successive
// failovers leave replicas holding epochs the others never saw); when replicas join a
// partition's ELR (KIP-966: the ISR fell below min.insync.replicas), its leader within
// 100 ms, half the time, so a claimant leads. Counted as nemesis.isr_change,
// nemesis.new_leader and nemesis.elr among the faults. The client also moves
// partitions between brokers (AlterPartitionReassignments) every few seconds until
// healing, and cancels some moves.
//
// The checkers (sim/checkers/contracts.h) hold each stream to Kafka's contract for its
// settings, after the runner's final power loss of every node:
//  - contracts: every acknowledged write is at its acknowledged offset, unless an event
//    of the run permits its loss under the write's settings (acks=1 and its leader
//    replaced, an unclean election, unsynced data and every replica powered off); each
//    permitted loss is listed with its reason, an unpermitted one fails the seed;
//                                      (catches --flaw ack-on-leader, truncate-to-hw)
//  - reads: a consumer never read a record that later vanished or changed (it reads
//    below the high watermark only), and a consumer's offsets increase, again unless
//    permitted;                           (catches --flaw shrink-isr-early, serve-past-hw)
//  - no unclean election on a topic whose config forbids it;
//  - integrity: offsets increase, values stored once (a producer without idempotence
//    may store a retried value twice: counted, permitted);
//  - liveness: after healing, writes are acknowledged, the final read finishes, and
//    every partition has a leader and its whole replica set in sync.
//                     (catches --flaw skip-follower-truncation, truncate-to-leader-offset)
// The seeds that catch each flaw first are in docs/sim.md.
#pragma once

#include <memory>

#include "sim/workloads/workload.h"

namespace weir::sim {

std::unique_ptr<Workload> make_partition_replication_workload(const RunOptions& options);

}  // namespace weir::sim
