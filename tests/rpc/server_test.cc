// rpc::Server on the simulated network: a request it refuses by closing the connection
// is logged once per client and version (issue 13 item 7), and an accept loop whose
// host runs out of file descriptors backs off, keeps serving the connections it has,
// and accepts again once descriptors free up (issue 13 item 8). The simulated listener
// fails the run if its caller retries a refused accept without pausing, so "does not
// spin" is checked on every test that injects the fault.
#include "rpc/server.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "protocol/header.h"
#include "protocol/messages/api.h"
#include "protocol/messages/metadata.h"
#include "runtime/buggify.h"
#include "runtime/env.h"
#include "runtime/log.h"
#include "runtime/random.h"
#include "runtime/scheduler.h"
#include "sim/clock.h"
#include "sim/disk.h"
#include "sim/faults.h"
#include "sim/network.h"
#include "sim/trace.h"

namespace weir::rpc {
namespace {

using runtime::Address;
using runtime::Duration;
using runtime::Instant;
using runtime::IoError;
using runtime::milliseconds;
using runtime::seconds;
using runtime::Stream;

// Keeps every line, for the test to count.
class RecordingLog final : public runtime::Log {
 public:
  void write(std::string_view line) override { lines.emplace_back(line); }
  size_t count_containing(std::string_view text) const {
    size_t n = 0;
    for (const std::string& line : lines) n += line.find(text) != std::string::npos;
    return n;
  }
  std::vector<std::string> lines;
};

// Serves ApiVersions only: every other api is refused by closing the connection.
class ApiVersionsOnly final : public RequestHandler {
 public:
  Reply handle(const protocol::RequestHeader& header, protocol::RequestBody&& body) override {
    handled++;
    return Reply{api_versions_response(header), {}};
  }
  bool serves(int16_t api_key) const override {
    return api_key == static_cast<int16_t>(protocol::ApiKey::api_versions);
  }
  protocol::ResponseBody api_versions_response(const protocol::RequestHeader&) override {
    return protocol::ApiVersionsResponse{};
  }
  int handled = 0;
};

// A request frame (without its size prefix) of any api and version, even one weir
// cannot encode: the header only, which is all the server reads of a refused request.
protocol::Bytes header_only_frame(int16_t api_key, int16_t api_version, std::string client_id) {
  protocol::RequestHeader header;
  header.api_key = api_key;
  header.api_version = api_version;
  header.correlation_id = 7;
  header.client_id = std::move(client_id);
  protocol::Bytes out;
  protocol::Writer writer(out);
  protocol::encode_request_header(header, protocol::request_header_version(api_key, api_version),
                                  writer);
  return out;
}

protocol::Bytes api_versions_frame(int32_t correlation_id) {
  protocol::RequestHeader header;
  header.api_key = static_cast<int16_t>(protocol::ApiKey::api_versions);
  header.api_version = 3;
  header.correlation_id = correlation_id;
  header.client_id = "test";
  protocol::ApiVersionsRequest request;
  request.client_software_name = "test";
  request.client_software_version = "1";
  protocol::Bytes out;
  protocol::encode_request(header, request, out);
  return out;
}

sim::NetworkTiming fast_timing() {
  sim::NetworkTiming timing;
  timing.latency = milliseconds(1);
  timing.jitter = Duration(0);
  return timing;
}

protocol::Bytes metadata_frame(std::string client_id) {
  protocol::RequestHeader header;
  header.api_key = static_cast<int16_t>(protocol::ApiKey::metadata);
  header.api_version = 12;
  header.correlation_id = 9;
  header.client_id = std::move(client_id);
  protocol::Bytes out;
  protocol::encode_request(header, protocol::MetadataRequest{}, out);
  return out;
}

class ServerTest : public ::testing::Test {
 protected:
  ~ServerTest() override {
    scheduler.kill_group(group);
    server.reset();
  }

  // Runs `body` in a fiber with a server listening on server:9092; stops the server
  // after it.
  void run(std::function<void()> body) {
    scheduler.spawn(group, "test", [&] {
      server.emplace(env, handler, ServerLimits{});
      auto bound = server->listen(Address{"server", 9092});
      VERIFY(bound.ok(), "listen: {}", bound.error());
      body();
      server->stop();
    });
    scheduler.run();
    if (auto failure = scheduler.failure()) std::rethrow_exception(failure);
    EXPECT_EQ(scheduler.fiber_count(group), 0u) << "a fiber is stuck";
  }

  // Helpers for use inside a fiber.
  std::unique_ptr<Stream> connect(const std::string& from) {
    auto& view = views.emplace_back(network->view(from));
    auto stream = view->connect(Address{"server", 9092}, seconds(5));
    VERIFY(stream.ok(), "connect: {}", runtime::to_string(stream.error()));
    return std::move(stream).value();
  }
  static void send(Stream& stream, const protocol::Bytes& frame) {
    protocol::Bytes sized(4);
    const auto size = static_cast<uint32_t>(frame.size());
    sized[0] = static_cast<uint8_t>(size >> 24);
    sized[1] = static_cast<uint8_t>(size >> 16);
    sized[2] = static_cast<uint8_t>(size >> 8);
    sized[3] = static_cast<uint8_t>(size);
    sized.insert(sized.end(), frame.begin(), frame.end());
    auto written = stream.write_all(std::as_bytes(std::span(sized)));
    VERIFY(written.ok(), "write: {}", runtime::to_string(written.error()));
  }
  // The correlation id of the next response, or nullopt when the server closed.
  static std::optional<int32_t> receive_correlation_id(Stream& stream) {
    std::array<std::byte, 4> size_bytes;
    if (!stream.read_exactly(size_bytes)) return std::nullopt;
    const uint32_t size = (std::to_integer<uint32_t>(size_bytes[0]) << 24) |
                          (std::to_integer<uint32_t>(size_bytes[1]) << 16) |
                          (std::to_integer<uint32_t>(size_bytes[2]) << 8) |
                          std::to_integer<uint32_t>(size_bytes[3]);
    VERIFY(size >= 4);
    std::vector<std::byte> body(size);
    if (!stream.read_exactly(body)) return std::nullopt;
    return static_cast<int32_t>(
        (std::to_integer<uint32_t>(body[0]) << 24) | (std::to_integer<uint32_t>(body[1]) << 16) |
        (std::to_integer<uint32_t>(body[2]) << 8) | std::to_integer<uint32_t>(body[3]));
  }
  // Sends a request the server refuses and waits until it has closed the connection.
  void refused(const std::string& from, const protocol::Bytes& frame) {
    auto stream = connect(from);
    send(*stream, frame);
    EXPECT_EQ(receive_correlation_id(*stream), std::nullopt) << "the server answered";
  }
  Instant now() const { return clock.now(); }

  sim::VirtualClock clock;
  sim::VirtualReactor reactor{clock};
  sim::Trace trace{clock};
  sim::FaultStats stats;
  runtime::Scheduler scheduler{clock, reactor, nullptr, &trace};
  runtime::GroupId group = scheduler.new_group("server-test");
  sim::DiskFaults disk_faults;
  std::unique_ptr<sim::SimNetwork> network =
      std::make_unique<sim::SimNetwork>(scheduler, runtime::Random(3), fast_timing(), stats, trace);
  std::unique_ptr<runtime::Network> server_network = network->view("server");
  std::vector<std::unique_ptr<runtime::Network>> views;
  std::unique_ptr<sim::SimDisk> disk =
      std::make_unique<sim::SimDisk>(scheduler, runtime::Random(4), disk_faults, stats);
  runtime::Random random{11};
  runtime::Buggify buggify;
  RecordingLog log;
  runtime::Env env{scheduler, clock, random, *server_network, *disk, buggify, log};
  ApiVersionsOnly handler;
  std::optional<Server> server;
};

constexpr auto produce = static_cast<int16_t>(protocol::ApiKey::produce);
constexpr auto metadata = static_cast<int16_t>(protocol::ApiKey::metadata);

TEST_F(ServerTest, AnUnsupportedVersionIsLoggedOncePerClientAndVersion) {
  run([&] {
    for (int i = 0; i < 3; i++) refused("old", header_only_frame(produce, 2, "legacy-app"));
  });
  ASSERT_EQ(log.lines.size(), 1u) << "logged once, not once per connection";
  const std::string& line = log.lines[0];
  const protocol::ApiInfo* api = protocol::find_api(produce);
  ASSERT_NE(api, nullptr);
  EXPECT_NE(line.find("closed the connection from old:"), std::string::npos) << line;
  EXPECT_NE(line.find("client id 'legacy-app'"), std::string::npos) << line;
  EXPECT_NE(line.find(fmt::format("Produce v2 is not supported (weir serves v{} to v{})",
                                  api->version_min, api->version_max)),
            std::string::npos)
      << line;
}

TEST_F(ServerTest, EachClientHostIdApiAndVersionIsLoggedOnItsOwn) {
  run([&] {
    refused("old", header_only_frame(produce, 2, "legacy-app"));
    refused("old", header_only_frame(produce, 1, "legacy-app"));       // another version
    refused("old", header_only_frame(produce, 1, "other-app"));        // another client id
    refused("elsewhere", header_only_frame(produce, 1, "other-app"));  // another host
    refused("old", metadata_frame("legacy-app"));                      // not served here
    refused("old", header_only_frame(metadata, 12, "new-app"));        // no body
    refused("old", header_only_frame(4242, 0, "legacy-app"));          // unknown api
    // And each again: nothing new.
    refused("old", header_only_frame(produce, 2, "legacy-app"));
    refused("old", metadata_frame("legacy-app"));
    refused("old", header_only_frame(metadata, 12, "new-app"));
    refused("old", header_only_frame(4242, 0, "legacy-app"));
  });
  ASSERT_EQ(log.lines.size(), 7u) << fmt::format("{}", fmt::join(log.lines, "\n"));
  EXPECT_EQ(log.count_containing("Metadata is not served on this listener"), 1u);
  EXPECT_EQ(log.count_containing("Metadata v12 did not decode ("), 1u);
  EXPECT_EQ(log.count_containing("api key 4242 (v0) is not one weir implements"), 1u);
  EXPECT_EQ(log.count_containing("from elsewhere:"), 1u);
}

TEST_F(ServerTest, AClientIdCannotForgeLogLines) {
  run([&] { refused("old", header_only_frame(produce, 2, "evil\nweir: forged line")); });
  ASSERT_EQ(log.lines.size(), 1u);
  EXPECT_EQ(log.lines[0].find('\n'), std::string::npos);
  EXPECT_NE(log.lines[0].find("client id 'evil?weir: forged line'"), std::string::npos);
}

TEST_F(ServerTest, ServedRequestsAreNotLogged) {
  run([&] {
    auto stream = connect("client");
    send(*stream, api_versions_frame(1));
    EXPECT_EQ(receive_correlation_id(*stream), 1);
  });
  EXPECT_EQ(handler.handled, 1);
  EXPECT_TRUE(log.lines.empty());
}

TEST(RefusalLogTest, RemembersABoundedNumberAndForgetsTheOldestFirst) {
  RefusalLog refusals;
  for (size_t i = 0; i < RefusalLog::entries_max + 10; i++) {
    EXPECT_TRUE(refusals.first("host", fmt::format("client-{}", i), produce, 2));
    EXPECT_LE(refusals.size(), RefusalLog::entries_max);
  }
  EXPECT_EQ(refusals.size(), RefusalLog::entries_max);
  const std::string newest = fmt::format("client-{}", RefusalLog::entries_max + 9);
  EXPECT_FALSE(refusals.first("host", newest, produce, 2)) << "the newest is remembered";
  EXPECT_TRUE(refusals.first("host", "client-0", produce, 2)) << "the oldest was forgotten";
  // Long client ids are cut, so they cannot make the set large either.
  const std::string long_id(100'000, 'x');
  EXPECT_TRUE(refusals.first("host", long_id, produce, 2));
  EXPECT_FALSE(refusals.first("host", long_id + "y", produce, 2));
}

TEST_F(ServerTest, OutOfDescriptorsTheAcceptLoopBacksOffKeepsServingAndRecovers) {
  Instant fault_at;
  Instant recovered_at;
  run([&] {
    auto served = connect("client");
    send(*served, api_versions_frame(1));
    ASSERT_EQ(receive_correlation_id(*served), 1);

    // The next connection waits in the backlog: its accept starts the episode.
    auto waiting = connect("late");
    network->set_too_many_open_files_probability(1);
    send(*waiting, api_versions_frame(100));
    scheduler.sleep_for(milliseconds(1));
    ASSERT_TRUE(network->out_of_descriptors("server"));
    fault_at = now();
    // No new episode after this one, which lasts up to a second.
    network->set_too_many_open_files_probability(1e-300);

    // Meanwhile the connection already open is served as before.
    for (int32_t id = 2; id < 12; id++) {
      send(*served, api_versions_frame(id));
      EXPECT_EQ(receive_correlation_id(*served), id);
      scheduler.sleep_for(milliseconds(50));
    }
    // Once the episode is over, the waiting connection is accepted and answered.
    EXPECT_EQ(receive_correlation_id(*waiting), 100);
    recovered_at = now();
  });
  EXPECT_EQ(stats.get("net.out_of_descriptors"), 1u);
  // A pause after each failure, doubling from 100 ms to 1 s, over an episode of at most
  // a second: a handful of failed accepts, where a spinning loop makes thousands.
  EXPECT_GE(stats.get("net.too_many_open_files"), 1u);
  EXPECT_LE(stats.get("net.too_many_open_files"), 5u);
  EXPECT_LE(recovered_at - fault_at, seconds(2)) << "accepted within a pause of the end";
  ASSERT_EQ(log.lines.size(), 2u) << fmt::format("{}", fmt::join(log.lines, "\n"));
  EXPECT_NE(log.lines[0].find("cannot accept connections on server:9092: too many open files"),
            std::string::npos)
      << log.lines[0];
  EXPECT_NE(log.lines[1].find("accepting connections on server:9092 again"), std::string::npos)
      << log.lines[1];
}

TEST_F(ServerTest, EpisodesCloseTogetherAreReportedOncePerInterval) {
  // One episode of running out of descriptors, started by the accept of a connection
  // from `from`; returns once that connection is served.
  auto episode = [&](const std::string& from) {
    auto waiting = connect(from);
    network->set_too_many_open_files_probability(1);
    send(*waiting, api_versions_frame(1));
    scheduler.sleep_for(milliseconds(1));
    VERIFY(network->out_of_descriptors("server"));
    network->set_too_many_open_files_probability(1e-300);
    EXPECT_EQ(receive_correlation_id(*waiting), 1);
  };
  run([&] {
    episode("first");
    episode("second");  // flapping: counted, not logged
    episode("third");
    EXPECT_EQ(log.lines.size(), 2u) << fmt::format("{}", fmt::join(log.lines, "\n"));
    scheduler.sleep_for(accept_report_interval);
    episode("later");
  });
  ASSERT_EQ(log.lines.size(), 4u) << fmt::format("{}", fmt::join(log.lines, "\n"));
  EXPECT_EQ(log.count_containing("cannot accept connections"), 2u);
  EXPECT_EQ(log.count_containing("again"), 2u);
  EXPECT_NE(log.lines[2].find("2 shorter episodes since the last report"), std::string::npos)
      << log.lines[2];
}

TEST_F(ServerTest, AnEpisodeThatOutlastsTheIntervalIsReportedWhileItLasts) {
  run([&] {
    auto first = connect("first");
    network->set_too_many_open_files_probability(1);
    scheduler.sleep_for(milliseconds(1));
    network->set_too_many_open_files_probability(1e-300);
    scheduler.sleep_for(seconds(2));  // the first episode is over and was reported
    ASSERT_EQ(log.lines.size(), 2u) << fmt::format("{}", fmt::join(log.lines, "\n"));
    // A second one right after, too soon to report at its start; it lasts (the server
    // fails every accept while a connection is queued) and is reported once the
    // interval since the first report has passed.
    auto second = connect("second");
    network->set_too_many_open_files_probability(1);
    scheduler.sleep_for(seconds(5));
    EXPECT_EQ(log.count_containing("cannot accept connections"), 1u);
    scheduler.sleep_for(seconds(7));
    EXPECT_EQ(log.count_containing("cannot accept connections"), 2u)
        << fmt::format("{}", fmt::join(log.lines, "\n"));
    network->set_too_many_open_files_probability(0);
    send(*second, api_versions_frame(2));
    EXPECT_EQ(receive_correlation_id(*second), 2);
  });
  EXPECT_EQ(log.count_containing("again"), 2u) << fmt::format("{}", fmt::join(log.lines, "\n"));
}

TEST_F(ServerTest, StopEndsTheAcceptLoopsPauseAtOnce) {
  Duration stop_took{};
  run([&] {
    auto waiting = connect("late");
    network->set_too_many_open_files_probability(1);
    scheduler.sleep_for(milliseconds(1));
    ASSERT_TRUE(network->out_of_descriptors("server"));
    // Let the pauses grow, then stop in the middle of one.
    scheduler.sleep_for(milliseconds(750));
    const Instant stop_at = now();
    server->stop();
    stop_took = now() - stop_at;
  });
  EXPECT_LT(stop_took, milliseconds(100)) << "stop() waited out the accept loop's pause";
}

}  // namespace
}  // namespace weir::rpc
