// QuorumController: the fibers around metadata::Controller on a controller node. It
// answers the controller's apis on the controller listener (as the RaftService's
// extension) and turns each decision into one batch on the metadata log.
//
// Active only while this node leads the quorum *and* has applied everything committed
// before its epoch: it waits for its epoch's LeaderChange entry to commit (Raft
// commits earlier epochs' entries only through an entry of its own) and for the loader
// to replay up to it, then starts the controller from that committed state. Requests
// reaching a node that is not active get NOT_CONTROLLER, which Kafka's clients and
// weir's brokers answer by finding the leader again.
//
// Each request: decide (pure, against the working state: committed plus pending), append
// the decision's records as one batch in the active epoch, and answer once the batch
// is committed — or with NOT_CONTROLLER / REQUEST_TIMED_OUT when leadership is lost or
// the commit takes too long (the records may still commit: the answer says only that
// the outcome is unknown). Decisions and appends are serialized by one mutex, so the
// log holds decisions in the order they were made and each decision's `next_offset`
// (broker epochs are registration offsets) is the offset its batch gets.
//
// A periodic tick fences brokers whose heartbeats stopped and elects leaders where it
// can. When leadership is lost the working state is dropped; the next activation starts
// again from the committed state.
#pragma once

#include <cstdint>
#include <optional>

#include "cluster/loader.h"
#include "metadata/controller.h"
#include "raft/node.h"
#include "raft/service.h"
#include "runtime/env.h"
#include "runtime/random.h"
#include "runtime/sync.h"

namespace weir::cluster {

struct QuorumControllerSettings {
  metadata::ControllerSettings controller;
  // How long a request waits for its records to commit before REQUEST_TIMED_OUT.
  runtime::Duration commit_timeout = runtime::seconds(10);
  // How often the controller looks at broker sessions.
  runtime::Duration tick_interval = runtime::milliseconds(500);
  // Test-only flaw (the simulator's answer-before-commit): answer once the records are
  // appended, before they commit — an acknowledged change may then be lost.
  bool flaw_answer_before_commit = false;
};

class QuorumController final : public raft::ApiExtension {
 public:
  QuorumController(runtime::Env& env, raft::RaftNode& node, MetadataLoader& loader,
                   QuorumControllerSettings settings);
  ~QuorumController() override;
  QuorumController(const QuorumController&) = delete;
  QuorumController& operator=(const QuorumController&) = delete;

  // Starts the fiber that follows leadership and ticks the controller.
  void start();
  // Suspends until that fiber and every request waiting for a commit have ended.
  void stop();

  // The apis the controller answers besides the quorum's own.
  static bool serves_api(int16_t api_key);
  bool serves(int16_t api_key) const override { return serves_api(api_key); }
  rpc::Reply handle(const protocol::RequestHeader& header, protocol::RequestBody&& body) override;

  // Leading, caught up and answering requests.
  bool active() const;

  // Suspends. Adopts an older weir's topics (metadata::Controller::adopt_legacy_topics)
  // once this controller is active, and waits for the records to commit; retries after
  // a lost leadership. False if that did not happen before `deadline`.
  bool adopt_legacy_topics_wait(const std::vector<metadata::LegacyTopic>& topics,
                                metadata::BrokerId broker, metadata::ProducerId next_producer_id,
                                runtime::Instant deadline);

 private:
  void lead_loop();
  // DescribeCluster's endpoint_type for controllers (1 is brokers).
  static constexpr int8_t kControllerEndpoints = 2;
  protocol::ResponseBody describe_cluster(const protocol::DescribeClusterRequest& request) const;
  // Suspends. Appends `records` as one batch in the active epoch (mutex_ held).
  // Returns the offset one past the batch, or nothing when it could not be appended.
  std::optional<record::Offset> append(const std::vector<metadata::Record>& records);
  // Suspends. Decides `request` with `decide` (given the offset its records will
  // start at) and answers once the records commit, or with refuse() when this node is
  // not active or the commit fails.
  template <typename Response, typename Decide>
  rpc::Reply submit(const protocol::RequestBody& request, Decide decide);
  void spawn(std::string name, std::function<void()> body);
  int64_t now_ms() const;

  runtime::Env& env_;
  raft::RaftNode& node_;
  MetadataLoader& loader_;
  QuorumControllerSettings settings_;
  runtime::Random random_;
  metadata::Controller controller_;
  runtime::Mutex mutex_;
  // The epoch this node is active in (nothing while inactive).
  std::optional<raft::Epoch> active_epoch_;
  bool stopping_ = false;
  int64_t fibers_ = 0;
  runtime::WaitQueue fibers_done_;
};

}  // namespace weir::cluster
