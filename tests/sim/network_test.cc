// SimNetwork: FIFO byte streams with latency, and every network fault (cuts one-way and
// full, heal, clogging, resets, connect timeouts, host crashes, the partition-leak
// flaw), each shown to have its effect: a test here fails if the injector silently does
// nothing. Time is virtual, so every timing assertion is exact and deterministic.
#include "sim/network.h"

#include <cstddef>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "runtime/clock.h"
#include "runtime/random.h"
#include "runtime/scheduler.h"
#include "sim/clock.h"
#include "sim/faults.h"
#include "sim/trace.h"

namespace weir::sim {
namespace {

using runtime::Address;
using runtime::Duration;
using runtime::Instant;
using runtime::IoError;
using runtime::Listener;
using runtime::milliseconds;
using runtime::seconds;
using runtime::Stream;

std::span<const std::byte> as_bytes(const std::string& text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

// Both ends of one connection from host "a" (client) to host "b" (server), and the
// listener that accepted it. Shared, so that fibers can hold them.
struct Pair {
  std::shared_ptr<Listener> listener;
  std::shared_ptr<Stream> client;
  std::shared_ptr<Stream> server;
};

class NetworkTest : public ::testing::Test {
 protected:
  NetworkTest() {
    timing.latency = milliseconds(10);
    timing.jitter = Duration(0);
    timing.bytes_per_second = 1'000'000'000;
  }
  ~NetworkTest() override {
    // Unwind fibers a failed test left behind while the network they use still exists.
    scheduler.kill_group(group_);
    views_.clear();
    network_.reset();
  }

  SimNetwork& net() {
    if (!network_) {
      network_ = std::make_unique<SimNetwork>(scheduler, runtime::Random(7), timing, stats,
                                              trace);
    }
    return *network_;
  }
  runtime::Network& host(const std::string& name) {
    auto it = views_.find(name);
    if (it == views_.end()) it = views_.emplace(name, net().view(name)).first;
    return *it->second;
  }

  void spawn(std::string name, std::function<void()> body) {
    scheduler.spawn(group_, std::move(name), std::move(body));
  }
  // Runs `body` in a fiber until it and every fiber it started are done.
  void run(std::function<void()> body) {
    spawn("test", std::move(body));
    scheduler.run();
    if (auto failure = scheduler.failure()) std::rethrow_exception(failure);
    EXPECT_EQ(scheduler.fiber_count(group_), 0u) << "a fiber is stuck";
  }
  Instant now() const { return clock.now(); }

  // Helpers for use inside a fiber.
  std::shared_ptr<Listener> listen(const std::string& name, uint16_t port) {
    auto listener = host(name).listen(Address{name, port});
    VERIFY(listener.ok(), "listen: {}", runtime::to_string(listener.error()));
    return std::move(listener).value();
  }
  Pair connect_pair(const std::string& from = "a", const std::string& to = "b") {
    Pair pair;
    pair.listener = listen(to, 1);
    auto client = host(from).connect(Address{to, 1}, seconds(5));
    VERIFY(client.ok(), "connect: {}", runtime::to_string(client.error()));
    pair.client = std::move(client).value();
    auto server = pair.listener->accept();
    VERIFY(server.ok(), "accept: {}", runtime::to_string(server.error()));
    pair.server = std::move(server).value();
    return pair;
  }
  static void write(Stream& stream, const std::string& text) {
    auto written = stream.write_all(as_bytes(text));
    VERIFY(written.ok(), "write: {}", runtime::to_string(written.error()));
  }
  static std::string read(Stream& stream, size_t bytes) {
    std::string text(bytes, '\0');
    auto read = stream.read_exactly({reinterpret_cast<std::byte*>(text.data()), text.size()});
    VERIFY(read.ok(), "read: {}", runtime::to_string(read.error()));
    return text;
  }
  // The error a read of one byte ends with (it must not return data).
  static IoError read_error(Stream& stream) {
    std::byte byte{};
    auto read = stream.read_some({&byte, 1});
    VERIFY(!read.ok(), "read returned {} bytes where it should have failed", *read);
    return read.error();
  }

  NetworkTiming timing;
  VirtualClock clock;
  VirtualReactor reactor{clock};
  Trace trace{clock};
  FaultStats stats;
  runtime::Scheduler scheduler{clock, reactor, nullptr, &trace};

 private:
  runtime::GroupId group_ = scheduler.new_group("test");
  std::unique_ptr<SimNetwork> network_;
  std::map<std::string, std::unique_ptr<runtime::Network>> views_;
};

TEST_F(NetworkTest, BytesArriveInOrderAndNeverBeforeTheLatency) {
  // Jitter far above the latency: without the FIFO rule, later messages would overtake.
  timing.latency = milliseconds(1);
  timing.jitter = milliseconds(5);
  constexpr size_t messages = 50;
  std::vector<Instant> sent(messages);
  std::vector<Instant> received(messages);
  std::vector<std::string> order;
  Duration connect_took{};
  run([&] {
    const Instant start = now();
    Pair pair = connect_pair();
    connect_took = now() - start;
    spawn("reader", [&, server = pair.server] {
      for (size_t i = 0; i < messages; i++) {
        order.push_back(read(*server, 4));
        received[i] = now();
      }
    });
    for (size_t i = 0; i < messages; i++) {
      sent[i] = now();
      write(*pair.client, fmt::format("{:04}", i));
      scheduler.sleep_for(runtime::microseconds(100));
    }
  });
  EXPECT_EQ(connect_took, timing.latency * 2) << "the handshake takes one round trip";
  ASSERT_EQ(order.size(), messages);
  bool jittered = false;
  for (size_t i = 0; i < messages; i++) {
    EXPECT_EQ(order[i], fmt::format("{:04}", i));
    EXPECT_GE(received[i] - sent[i], timing.latency) << "message " << i << " arrived early";
    if (i > 0) {
      EXPECT_GE(received[i], received[i - 1]);
    }
    if (received[i] - sent[i] > timing.latency + runtime::microseconds(100)) jittered = true;
  }
  EXPECT_TRUE(jittered) << "jitter never delayed anything";
  EXPECT_EQ(stats.all().size(), 0u) << "no fault fired";
}

TEST_F(NetworkTest, FullCutMakesConnectTakeItsWholeTimeout) {
  run([&] {
    auto listener = listen("b", 1);
    net().partition({"a"}, {"b"});
    EXPECT_TRUE(net().link_cut("a", "b"));
    EXPECT_TRUE(net().link_cut("b", "a"));
    const Instant start = now();
    auto client = host("a").connect(Address{"b", 1}, seconds(5));
    ASSERT_FALSE(client.ok());
    EXPECT_EQ(client.error(), IoError::timed_out);
    EXPECT_EQ(now() - start, seconds(5));
  });
  EXPECT_EQ(net().live_connections(), 0u);
}

TEST_F(NetworkTest, CutResetsTheConnectionInsteadOfDeliveringInFlightData) {
  Instant reset_at;
  Instant sent_at;
  run([&] {
    Pair pair = connect_pair();
    sent_at = now();
    write(*pair.client, "lost");
    // The segment is in flight for 10ms; a cut of 1ms somewhere in there kills it.
    scheduler.sleep_for(milliseconds(2));
    net().cut("a", "b");
    scheduler.sleep_for(milliseconds(1));
    net().heal("a", "b");
    EXPECT_EQ(read_error(*pair.server), IoError::reset);
    reset_at = now();
    EXPECT_EQ(read_error(*pair.client), IoError::reset);
    EXPECT_EQ(pair.client->write_all(as_bytes("more")).error(), IoError::reset);
    EXPECT_EQ(net().live_connections(), 0u);
  });
  // The reset comes when delivery was due (latency plus nanoseconds of transmission).
  EXPECT_GE(reset_at - sent_at, timing.latency);
  EXPECT_LT(reset_at - sent_at, timing.latency + milliseconds(1));
  EXPECT_EQ(stats.get("net.partition_drop"), 1u);
}

TEST_F(NetworkTest, DataSentDuringACutNeverArrivesEvenAfterTheHeal) {
  run([&] {
    Pair pair = connect_pair();
    net().cut("a", "b");
    scheduler.sleep_for(milliseconds(1));
    write(*pair.client, "during the cut");
    scheduler.sleep_for(milliseconds(1));
    net().heal("a", "b");  // long before the bytes would arrive
    EXPECT_EQ(read_error(*pair.server), IoError::reset);
    // The healed link carries a new connection.
    Pair again = connect_pair("a", "c");
    write(*again.client, "after");
    EXPECT_EQ(read(*again.server, 5), "after");
  });
  EXPECT_EQ(stats.get("net.partition_drop"), 1u);
}

TEST_F(NetworkTest, OneWayCutBlocksOnlyThatDirection) {
  run([&] {
    Pair pair = connect_pair();
    net().cut("a", "b");
    EXPECT_TRUE(net().link_cut("a", "b"));
    EXPECT_FALSE(net().link_cut("b", "a"));
    write(*pair.server, "pong");
    EXPECT_EQ(read(*pair.client, 4), "pong");  // b -> a still flows
    write(*pair.client, "ping");
    EXPECT_EQ(read_error(*pair.server), IoError::reset);  // a -> b does not
    // A handshake needs both directions, so connects either way hang.
    auto b_listener = listen("b", 2);
    auto a_listener = listen("a", 3);
    const Instant start = now();
    EXPECT_EQ(host("a").connect(Address{"b", 2}, seconds(1)).error(), IoError::timed_out);
    EXPECT_EQ(host("b").connect(Address{"a", 3}, seconds(1)).error(), IoError::timed_out);
    EXPECT_EQ(now() - start, seconds(2));
  });
  EXPECT_EQ(stats.get("net.partition_drop"), 1u);
}

TEST_F(NetworkTest, HealRestoresConnect) {
  run([&] {
    auto listener = listen("b", 1);
    net().partition({"a"}, {"b"});
    EXPECT_EQ(host("a").connect(Address{"b", 1}, seconds(1)).error(), IoError::timed_out);
    net().heal_all();
    EXPECT_FALSE(net().link_cut("a", "b"));
    EXPECT_FALSE(net().link_cut("b", "a"));
    auto client = host("a").connect(Address{"b", 1}, seconds(1));
    ASSERT_TRUE(client.ok());
    auto server = listener->accept();
    ASSERT_TRUE(server.ok());
    write(**client, "hi");
    EXPECT_EQ(read(**server, 2), "hi");
  });
}

TEST_F(NetworkTest, ClogDelaysDeliveryUntilItEndsAndLosesNothing) {
  Instant clogged_at;
  Instant fast_sent;
  Instant fast_at;
  Instant slow_at;
  const Duration clog = milliseconds(500);
  run([&] {
    Pair pair = connect_pair();
    clogged_at = now();
    net().clog("a", "b", now() + clog);
    write(*pair.client, "abc");
    scheduler.sleep_for(milliseconds(1));
    write(*pair.client, "def");
    fast_sent = now();
    write(*pair.server, "fast");
    EXPECT_EQ(read(*pair.client, 4), "fast");  // the other direction is not clogged
    fast_at = now();
    EXPECT_EQ(read(*pair.server, 6), "abcdef");
    slow_at = now();
  });
  EXPECT_GE(fast_at - fast_sent, timing.latency);
  EXPECT_LT(fast_at - fast_sent, timing.latency + milliseconds(1));
  EXPECT_GE(slow_at - clogged_at, clog);
  EXPECT_EQ(stats.get("net.partition_drop"), 0u);
}

TEST_F(NetworkTest, ResetRandomConnectionFailsBothEnds) {
  EXPECT_FALSE(net().reset_random_connection()) << "there is no connection to reset";
  std::optional<IoError> server_error;
  run([&] {
    Pair pair = connect_pair();
    EXPECT_EQ(net().live_connections(), 1u);
    spawn("server", [&, server = pair.server] { server_error = read_error(*server); });
    scheduler.sleep_for(milliseconds(1));
    EXPECT_TRUE(net().reset_random_connection());
    EXPECT_EQ(read_error(*pair.client), IoError::reset);
    EXPECT_EQ(pair.client->write_all(as_bytes("x")).error(), IoError::reset);
    EXPECT_EQ(pair.server->write_all(as_bytes("y")).error(), IoError::reset);
    EXPECT_EQ(net().live_connections(), 0u);
  });
  EXPECT_EQ(server_error, IoError::reset);
}

TEST_F(NetworkTest, ConnectWithoutListenerIsRefusedAfterOneRoundTrip) {
  run([&] {
    const Instant start = now();
    EXPECT_EQ(host("a").connect(Address{"b", 7}, seconds(5)).error(), IoError::refused);
    EXPECT_EQ(now() - start, timing.latency * 2);
  });
}

TEST_F(NetworkTest, ConnectTimeoutFaultHangsUntilTheTimeout) {
  run([&] {
    auto listener = listen("b", 1);
    net().set_connect_timeout_probability(1);
    const Instant start = now();
    EXPECT_EQ(host("a").connect(Address{"b", 1}, seconds(3)).error(), IoError::timed_out);
    EXPECT_EQ(now() - start, seconds(3));
    EXPECT_EQ(stats.get("net.connect_timeout"), 1u);
    net().set_connect_timeout_probability(0);
    auto client = host("a").connect(Address{"b", 1}, seconds(3));
    EXPECT_TRUE(client.ok());
  });
  EXPECT_EQ(stats.get("net.connect_timeout"), 1u);
}

TEST_F(NetworkTest, TooManyOpenFilesFailsConnectAtOnceUntilTheEpisodeEnds) {
  run([&] {
    auto listener = listen("b", 1);
    net().set_too_many_open_files_probability(1);
    const Instant start = now();
    EXPECT_EQ(host("a").connect(Address{"b", 1}, seconds(3)).error(), IoError::too_many_open_files);
    EXPECT_EQ(now(), start) << "socket() fails locally, before any round trip";
    EXPECT_TRUE(net().out_of_descriptors("a"));
    EXPECT_FALSE(net().out_of_descriptors("b"));
    // A probability that never fires: the episode under way still fails every connect.
    net().set_too_many_open_files_probability(1e-300);
    EXPECT_EQ(host("a").connect(Address{"b", 1}, seconds(3)).error(), IoError::too_many_open_files);
    EXPECT_TRUE(host("c").connect(Address{"b", 1}, seconds(3)).ok()) << "one host only";
    // Episodes last at most a second.
    scheduler.sleep_for(seconds(1));
    EXPECT_FALSE(net().out_of_descriptors("a"));
    EXPECT_TRUE(host("a").connect(Address{"b", 1}, seconds(3)).ok());
  });
  EXPECT_EQ(stats.get("net.out_of_descriptors"), 1u);
  EXPECT_EQ(stats.get("net.too_many_open_files"), 2u);
}

TEST_F(NetworkTest, TooManyOpenFilesOnAcceptKeepsTheConnectionQueued) {
  run([&] {
    auto listener = listen("b", 1);
    auto client = host("a").connect(Address{"b", 1}, seconds(3));
    ASSERT_TRUE(client.ok());
    write(**client, "queued");
    net().set_too_many_open_files_probability(1);
    const Instant start = now();
    EXPECT_EQ(listener->accept().error(), IoError::too_many_open_files);
    EXPECT_EQ(now(), start) << "a refused accept returns at once";
    EXPECT_TRUE(net().out_of_descriptors("b"));
    net().set_too_many_open_files_probability(1e-300);
    scheduler.sleep_for(milliseconds(5));
    EXPECT_EQ(listener->accept().error(), IoError::too_many_open_files);
    scheduler.sleep_for(seconds(1));
    auto server = listener->accept();
    ASSERT_TRUE(server.ok()) << "the episode ended";
    EXPECT_EQ(read(**server, 6), "queued") << "the connection waited in the backlog";
  });
  EXPECT_EQ(stats.get("net.out_of_descriptors"), 1u);
  EXPECT_EQ(stats.get("net.too_many_open_files"), 2u);
}

TEST_F(NetworkTest, HealingOrACrashEndsAnOutOfDescriptorsEpisode) {
  run([&] {
    auto listener = listen("b", 1);
    net().set_too_many_open_files_probability(1);
    EXPECT_FALSE(host("a").connect(Address{"b", 1}, seconds(3)).ok());
    net().set_too_many_open_files_probability(0);
    EXPECT_FALSE(net().out_of_descriptors("a"));
    EXPECT_TRUE(host("a").connect(Address{"b", 1}, seconds(3)).ok());
    net().set_too_many_open_files_probability(1);
    EXPECT_FALSE(host("a").connect(Address{"b", 1}, seconds(3)).ok());
    net().set_too_many_open_files_probability(1e-300);
    net().crash_host("a");
    EXPECT_FALSE(net().out_of_descriptors("a"));
  });
}

TEST_F(NetworkTest, AnAcceptLoopThatRetriesWithoutPausingFailsTheRun) {
  // What rpc::Server did before issue 13: on a real kernel, a wedged node at 98% CPU.
  EXPECT_ANY_THROW(run([&] {
    auto listener = listen("b", 1);
    ASSERT_TRUE(host("a").connect(Address{"b", 1}, seconds(3)).ok());
    net().set_too_many_open_files_probability(1);
    while (true) {
      auto accepted = listener->accept();
      if (accepted.ok()) break;
    }
  }));
  EXPECT_EQ(stats.get("net.too_many_open_files"), 1001u);
}

TEST_F(NetworkTest, CrashedHostResetsItsConnectionsAndLosesItsListeners) {
  std::optional<IoError> accept_error;
  run([&] {
    Pair crashing = connect_pair("a", "b");
    Pair bystander = connect_pair("a", "c");
    spawn("acceptor", [&, listener = crashing.listener] {
      auto accepted = listener->accept();
      accept_error = accepted.ok() ? std::nullopt : std::optional(accepted.error());
    });
    scheduler.sleep_for(milliseconds(1));
    EXPECT_EQ(net().live_connections(), 2u);
    net().crash_host("b");
    EXPECT_EQ(net().live_connections(), 1u);
    EXPECT_EQ(read_error(*crashing.client), IoError::reset);
    EXPECT_EQ(read_error(*crashing.server), IoError::reset);
    EXPECT_EQ(host("a").connect(Address{"b", 1}, seconds(1)).error(), IoError::refused);
    write(*bystander.client, "still up");
    EXPECT_EQ(read(*bystander.server, 8), "still up");
  });
  EXPECT_EQ(accept_error, IoError::closed);
}

TEST_F(NetworkTest, CloseGivesThePeerEndOfStreamAfterTheData) {
  run([&] {
    Pair pair = connect_pair();
    write(*pair.server, "bye");
    pair.server->close();
    EXPECT_EQ(read_error(*pair.server), IoError::closed);
    EXPECT_EQ(read(*pair.client, 3), "bye");
    std::byte byte{};
    auto end = pair.client->read_some({&byte, 1});
    ASSERT_TRUE(end.ok());
    EXPECT_EQ(*end, 0u);
  });
}

TEST_F(NetworkTest, WriterBlocksWhileTheWindowIsFull) {
  timing.window_bytes = 1000;
  Instant start;
  Instant first_done;
  Instant second_done;
  run([&] {
    Pair pair = connect_pair();
    start = now();
    write(*pair.client, std::string(1000, 'w'));
    first_done = now();
    write(*pair.client, std::string(10, 'x'));  // 1000 bytes still in flight
    second_done = now();
    EXPECT_EQ(read(*pair.server, 1010), std::string(1000, 'w') + std::string(10, 'x'));
  });
  EXPECT_EQ(first_done, start);
  EXPECT_GE(second_done - start, timing.latency);
}

TEST_F(NetworkTest, PartitionLeakFlawLetsBytesCrossACut) {
  net().set_flaw_partition_leak(true);
  run([&] {
    Pair pair = connect_pair();
    write(*pair.client, "leak");
    net().cut("a", "b");
    write(*pair.client, "more");
    EXPECT_EQ(read(*pair.server, 8), "leakmore");
    EXPECT_TRUE(net().link_cut("a", "b"));
    EXPECT_EQ(net().live_connections(), 1u);
  });
  EXPECT_EQ(stats.get("net.partition_drop"), 0u);
}

TEST_F(NetworkTest, CutHistoryRecordsEveryInterval) {
  Instant t1;
  Instant t2;
  Instant t3;
  run([&] {
    scheduler.sleep_for(milliseconds(5));
    t1 = now();
    net().cut("a", "b");
    net().cut("a", "b");  // already cut: no second interval
    net().cut("a", "a");  // a host always reaches itself
    scheduler.sleep_for(milliseconds(5));
    t2 = now();
    net().heal("a", "b");
    net().heal("b", "a");  // never cut: nothing to record
    net().partition({"a"}, {"b", "c"});
    scheduler.sleep_for(milliseconds(5));
    t3 = now();
    net().heal_all();
  });
  const std::vector<CutInterval>& history = net().cut_history();
  ASSERT_EQ(history.size(), 5u);
  EXPECT_EQ(history[0].from, "a");
  EXPECT_EQ(history[0].to, "b");
  EXPECT_EQ(history[0].start, t1);
  EXPECT_EQ(history[0].end, t2);
  std::set<std::pair<std::string, std::string>> links;
  for (size_t i = 1; i < history.size(); i++) {
    links.emplace(history[i].from, history[i].to);
    EXPECT_EQ(history[i].start, t2);
    EXPECT_EQ(history[i].end, t3);
  }
  EXPECT_EQ(links, (std::set<std::pair<std::string, std::string>>{
                       {"a", "b"}, {"b", "a"}, {"a", "c"}, {"c", "a"}}));
  EXPECT_FALSE(net().link_cut("a", "b"));
}

TEST_F(NetworkTest, CutHistoryShowsAnOpenCutAsLasting) {
  net().cut("x", "y");
  ASSERT_EQ(net().cut_history().size(), 1u);
  EXPECT_EQ(net().cut_history()[0].end, Instant::max());
  EXPECT_TRUE(net().link_cut("x", "y"));
}

}  // namespace
}  // namespace weir::sim
