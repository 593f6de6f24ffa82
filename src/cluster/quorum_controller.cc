#include "cluster/quorum_controller.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "base/assert.h"
#include "cluster/refusal.h"
#include "metadata/records.h"

namespace weir::cluster {

using protocol::ApiKey;
using protocol::error_value;
using protocol::ErrorCode;

QuorumController::QuorumController(runtime::Env& env, raft::RaftNode& node, MetadataLoader& loader,
                                   QuorumControllerSettings settings)
    : env_(env), node_(node), loader_(loader), settings_(std::move(settings)),
      random_(env.random.fork()), controller_(settings_.controller, random_),
      mutex_(env.scheduler) {}

QuorumController::~QuorumController() {
  VERIFY(fibers_ == 0, "the quorum controller's fibers outlive it");
}

void QuorumController::spawn(std::string name, std::function<void()> body) {
  fibers_++;
  env_.scheduler.spawn(std::move(name), [this, body = std::move(body)] {
    // Also when the fiber is unwound (the simulator crashes the node).
    struct Done {
      QuorumController* controller;
      ~Done() {
        if (--controller->fibers_ == 0) controller->fibers_done_.notify_all();
      }
    } done{this};
    body();
  });
}

void QuorumController::start() {
  spawn("controller-lead", [this] { lead_loop(); });
}

void QuorumController::stop() {
  stopping_ = true;
  while (fibers_ > 0) {
    fibers_done_.add(env_.scheduler.prepare_wait());
    env_.scheduler.suspend(env_.clock.now() + runtime::milliseconds(50));
  }
}

int64_t QuorumController::now_ms() const { return env_.clock.now().nanoseconds() / 1'000'000; }

bool QuorumController::active() const {
  const raft::RaftCore& core = node_.core();
  return active_epoch_ && core.is_leader() && core.epoch() == *active_epoch_ && !stopping_;
}

bool QuorumController::serves_api(int16_t api_key) {
  switch (static_cast<ApiKey>(api_key)) {
    case ApiKey::create_topics:
    case ApiKey::delete_topics:
    case ApiKey::create_partitions:
    case ApiKey::elect_leaders:
    case ApiKey::alter_partition_reassignments:
    case ApiKey::list_partition_reassignments:
    case ApiKey::alter_configs:
    case ApiKey::incremental_alter_configs:
    case ApiKey::broker_registration:
    case ApiKey::broker_heartbeat:
    case ApiKey::unregister_broker:
    case ApiKey::allocate_producer_ids:
    case ApiKey::alter_partition:
    case ApiKey::describe_cluster: return true;
    default: return false;
  }
}

void QuorumController::lead_loop() {
  runtime::Instant next_tick = env_.clock.now();
  while (!stopping_ && !node_.failed().is_set() && !loader_.failed().is_set()) {
    const raft::RaftCore& core = node_.core();
    if (active_epoch_ && !active()) {
      runtime::MutexGuard guard(mutex_);
      active_epoch_.reset();
    }
    // Everything committed before this epoch is in once the epoch's first entry (its
    // LeaderChange) is applied.
    auto caught_up = [&] {
      return core.is_leader() && core.epoch_start_offset() &&
             loader_.applied_end() > *core.epoch_start_offset();
    };
    if (!active_epoch_ && caught_up()) {
      runtime::MutexGuard guard(mutex_);
      if (caught_up() && !stopping_) {
        controller_.reset_to(loader_.state(), now_ms());
        active_epoch_ = core.epoch();
        if (auto records = controller_.bootstrap(); !records.empty()) (void)append(records);
        next_tick = env_.clock.now() + settings_.tick_interval;
      }
    }
    if (active() && env_.clock.now() >= next_tick) {
      runtime::MutexGuard guard(mutex_);
      if (active()) {
        if (auto records = controller_.tick(now_ms()); !records.empty()) (void)append(records);
      }
      next_tick = env_.clock.now() + settings_.tick_interval;
    }
    // Wakes for the next tick, or to look at leadership again (it has no event).
    runtime::Instant wake = env_.clock.now() + runtime::milliseconds(100);
    if (active()) wake = std::max(env_.clock.now(), std::min(wake, next_tick));
    loader_.wait_change(loader_.applied_end(), wake);
  }
  if (active_epoch_) {
    runtime::MutexGuard guard(mutex_);
    active_epoch_.reset();
  }
}

std::optional<record::Offset> QuorumController::append(
    const std::vector<metadata::Record>& records) {
  VERIFY(mutex_.locked() && active_epoch_);
  const record::Offset expected = node_.core().log_end() + static_cast<int64_t>(records.size());
  const metadata::Bytes batch = metadata::encode_batch(records, env_.clock.wall_now().milliseconds);
  auto appended = node_.append(batch, *active_epoch_);
  if (!appended) {
    // Leadership moved (or the log failed): the working state holds records that
    // will never commit; the next activation starts from the committed state again.
    active_epoch_.reset();
    return std::nullopt;
  }
  // Under mutex_ in one epoch nothing else appends, so the batch landed where the
  // decision assumed (broker epochs are these offsets).
  VERIFY(*appended == expected, "controller batch ended at {}, expected {}", *appended, expected);
  return *appended;
}

template <typename Response, typename Decide>
rpc::Reply QuorumController::submit(const protocol::RequestBody& request, Decide decide) {
  runtime::MutexGuard guard(mutex_);
  if (!active()) return rpc::Reply{refuse(request, ErrorCode::not_controller), {}};
  metadata::Decision<Response> decision = decide(node_.core().log_end());
  const raft::Epoch epoch = *active_epoch_;
  std::optional<record::Offset> end;
  if (decision.records.empty()) {
    // No records, but the answer was read from the working state, which may hold
    // records appended and not committed yet — and those may never commit (a refusal
    // naming a leader epoch that is then lost would leave its asker waiting for an
    // image that never comes). As Kafka's controller: answer once they are committed.
    end = node_.core().log_end();
    if (node_.high_watermark() >= *end) {
      return rpc::Reply{protocol::ResponseBody(decision.response), {}};
    }
  } else {
    end = append(decision.records);
    if (!end) return rpc::Reply{refuse(request, ErrorCode::not_controller), {}};
  }
  if (settings_.flaw_answer_before_commit) {
    return rpc::Reply{protocol::ResponseBody(std::move(decision.response)), {}};
  }
  auto promise = std::make_shared<runtime::Promise<protocol::ResponseBody>>(env_.scheduler);
  auto future = promise->future();
  const runtime::Instant deadline = env_.clock.now() + settings_.commit_timeout;
  spawn("controller-commit", [this, promise, epoch, end = *end, deadline, request,
                              response = std::move(decision.response)]() mutable {
    // In slices, so stop() need not wait out the commit timeout.
    while (!stopping_ && env_.clock.now() < deadline) {
      const auto slice = std::min(deadline, env_.clock.now() + runtime::milliseconds(100));
      if (node_.wait_committed(end, epoch, slice)) {
        promise->set(protocol::ResponseBody(std::move(response)));
        return;
      }
      if (!node_.core().is_leader() || node_.core().epoch() != epoch) break;
    }
    const bool still_leading = node_.core().is_leader() && node_.core().epoch() == epoch;
    promise->set(
        refuse(request, still_leading ? ErrorCode::request_timed_out : ErrorCode::not_controller));
  });
  return rpc::Reply{std::nullopt, std::move(future)};
}

bool QuorumController::adopt_legacy_topics_wait(const std::vector<metadata::LegacyTopic>& topics,
                                                metadata::BrokerId broker,
                                                metadata::ProducerId next_producer_id,
                                                runtime::Instant deadline) {
  while (!stopping_ && env_.clock.now() < deadline) {
    std::optional<record::Offset> end;
    raft::Epoch epoch{0};
    {
      runtime::MutexGuard guard(mutex_);
      if (active()) {
        epoch = *active_epoch_;
        std::vector<metadata::Record> records =
            controller_.adopt_legacy_topics(topics, broker, next_producer_id);
        if (records.empty()) return true;  // adopted before
        end = append(records);
      }
    }
    if (end && node_.wait_committed(*end, epoch, deadline)) return true;
    // Not active yet, or the records were lost with the leadership: the next term's
    // controller starts from the committed state and adopts what is missing.
    env_.scheduler.sleep_for(runtime::milliseconds(100));
  }
  return false;
}

// Any controller answers (KIP-919): the cluster id, the quorum leader it knows of and
// the voters' controller listeners, for tools given --bootstrap-controller. Broker
// endpoints are the brokers' to list.
protocol::ResponseBody QuorumController::describe_cluster(
    const protocol::DescribeClusterRequest& request) const {
  protocol::DescribeClusterResponse response;
  response.endpoint_type = request.endpoint_type;
  if (request.endpoint_type != kControllerEndpoints) {
    response.error_code = error_value(ErrorCode::unsupported_endpoint_type);
    response.error_message =
        "this is a controller listener: it lists controller endpoints (endpoint type 2)";
    return response;
  }
  response.cluster_id = node_.cluster_id();
  if (auto leader = node_.core().leader()) response.controller_id = leader->value();
  for (const auto& [id, address] : node_.voter_addresses()) {
    auto& voter = response.brokers.emplace_back();
    voter.broker_id = id.value();
    voter.host = address.host;
    voter.port = address.port;
  }
  return response;
}

rpc::Reply QuorumController::handle(const protocol::RequestHeader& header,
                                    protocol::RequestBody&& body) {
  using namespace protocol;
  if (auto* request = std::get_if<DescribeClusterRequest>(&body)) {
    return rpc::Reply{describe_cluster(*request), {}};
  }
  metadata::Controller& c = controller_;
  if (auto* request = std::get_if<CreateTopicsRequest>(&body)) {
    return submit<CreateTopicsResponse>(body,
                                        [&](record::Offset) { return c.create_topics(*request); });
  }
  if (auto* request = std::get_if<DeleteTopicsRequest>(&body)) {
    return submit<DeleteTopicsResponse>(
        body, [&](record::Offset) { return c.delete_topics(*request, header.api_version); });
  }
  if (auto* request = std::get_if<CreatePartitionsRequest>(&body)) {
    return submit<CreatePartitionsResponse>(
        body, [&](record::Offset) { return c.create_partitions(*request); });
  }
  if (auto* request = std::get_if<ElectLeadersRequest>(&body)) {
    return submit<ElectLeadersResponse>(
        body, [&](record::Offset) { return c.elect_leaders(*request, header.api_version); });
  }
  if (auto* request = std::get_if<AlterPartitionReassignmentsRequest>(&body)) {
    return submit<AlterPartitionReassignmentsResponse>(body, [&](record::Offset) {
      return c.alter_partition_reassignments(*request, header.api_version);
    });
  }
  if (auto* request = std::get_if<ListPartitionReassignmentsRequest>(&body)) {
    return submit<ListPartitionReassignmentsResponse>(
        body, [&](record::Offset) { return c.list_partition_reassignments(*request); });
  }
  if (auto* request = std::get_if<AlterConfigsRequest>(&body)) {
    return submit<AlterConfigsResponse>(body,
                                        [&](record::Offset) { return c.alter_configs(*request); });
  }
  if (auto* request = std::get_if<IncrementalAlterConfigsRequest>(&body)) {
    return submit<IncrementalAlterConfigsResponse>(
        body, [&](record::Offset) { return c.incremental_alter_configs(*request); });
  }
  if (auto* request = std::get_if<BrokerRegistrationRequest>(&body)) {
    return submit<BrokerRegistrationResponse>(
        body, [&](record::Offset next) { return c.register_broker(*request, next, now_ms()); });
  }
  if (auto* request = std::get_if<BrokerHeartbeatRequest>(&body)) {
    return submit<BrokerHeartbeatResponse>(
        body, [&](record::Offset next) { return c.broker_heartbeat(*request, next, now_ms()); });
  }
  if (auto* request = std::get_if<UnregisterBrokerRequest>(&body)) {
    return submit<UnregisterBrokerResponse>(
        body, [&](record::Offset) { return c.unregister_broker(*request); });
  }
  if (auto* request = std::get_if<AllocateProducerIdsRequest>(&body)) {
    return submit<AllocateProducerIdsResponse>(
        body, [&](record::Offset) { return c.allocate_producer_ids(*request); });
  }
  if (auto* request = std::get_if<AlterPartitionRequest>(&body)) {
    return submit<AlterPartitionResponse>(
        body, [&](record::Offset) { return c.alter_partition(*request, header.api_version); });
  }
  VERIFY(false, "the controller was handed api {}", header.api_key);
  return rpc::Reply::none();
}

}  // namespace weir::cluster
