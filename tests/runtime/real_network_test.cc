// The real network backend over loopback: echo with payloads larger than the socket
// buffers (so write_all must suspend), refused connects, close semantics.
#include <arpa/inet.h>
#include <cstddef>
#include <memory>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/real/limits.h"
#include "runtime/real/network.h"
#include "runtime/real/runtime.h"
#include "tests/runtime/temp_directory.h"

namespace weir::runtime::real {
namespace {

using testing::pattern;
using testing::TempDirectory;

class RealNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto created = RealRuntime::create(directory.path());
    ASSERT_TRUE(created.ok());
    runtime = std::move(created).value();
  }

  // Accepts connections and echoes each one until its peer closes.
  void serve_echo(Listener& listener, int& connections) {
    Scheduler& scheduler = runtime->scheduler();
    while (true) {
      auto accepted = listener.accept();
      if (!accepted) {
        EXPECT_EQ(accepted.error(), IoError::closed);
        return;
      }
      connections++;
      std::shared_ptr<Stream> stream = std::move(accepted).value();
      scheduler.spawn("echo", [stream] {
        std::vector<std::byte> buffer(64 * 1024);
        while (true) {
          auto got = stream->read_some(buffer);
          ASSERT_TRUE(got.ok()) << to_string(got.error());
          if (*got == 0) return;
          ASSERT_TRUE(stream->write_all(std::span(buffer).first(*got)).ok());
        }
      });
    }
  }

  // One client: writes `payload` from a helper fiber while reading the echo back.
  void echo_round_trip(const Address& server, const std::vector<std::byte>& payload) {
    Scheduler& scheduler = runtime->scheduler();
    auto connected = runtime->network().connect(server, seconds(10));
    ASSERT_TRUE(connected.ok()) << to_string(connected.error());
    std::shared_ptr<Stream> stream = std::move(connected).value();
    Event written(scheduler);
    scheduler.spawn("writer", [&] {
      EXPECT_TRUE(stream->write_all(payload).ok());
      written.set();
    });
    std::vector<std::byte> echoed(payload.size());
    ASSERT_TRUE(stream->read_exactly(echoed).ok());
    written.wait();
    EXPECT_TRUE(echoed == payload) << "echoed bytes differ";
    stream->close();
  }

  void run_echo_test(const std::string& host) {
    constexpr int client_count = 4;
    // Far above the default socket buffers (a few hundred KiB each way on loopback).
    constexpr size_t payload_bytes = 8 * 1024 * 1024;
    runtime->run([&] {
      Scheduler& scheduler = runtime->scheduler();
      auto listening = runtime->network().listen(Address{host, 0});
      if (!listening) {
        GTEST_SKIP() << "cannot listen on " << host << ": " << to_string(listening.error());
      }
      std::unique_ptr<Listener> listener = std::move(listening).value();
      const Address server = listener->local_address();
      EXPECT_NE(server.port, 0);
      int connections = 0;
      scheduler.spawn("server", [&] { serve_echo(*listener, connections); });
      Semaphore done(scheduler, 0);
      for (int i = 0; i < client_count; i++) {
        scheduler.spawn("client", [&, i] {
          echo_round_trip(server, pattern(payload_bytes, static_cast<uint64_t>(i)));
          done.release();
        });
      }
      done.acquire(client_count);
      EXPECT_EQ(connections, client_count);
      listener->close();
    });
  }

  // Both ends of one loopback connection, and the listener that made it.
  struct Connection {
    std::unique_ptr<Listener> listener;
    std::unique_ptr<Stream> client;
    std::unique_ptr<Stream> server;
  };

  // Call inside runtime->run(), wrapped in ASSERT_NO_FATAL_FAILURE: any failed step
  // fails the test.
  void connect_loopback(Connection& out) {
    auto listener = runtime->network().listen(Address{"127.0.0.1", 0});
    ASSERT_TRUE(listener.ok());
    auto client = runtime->network().connect((*listener)->local_address(), seconds(5));
    ASSERT_TRUE(client.ok());
    auto server = (*listener)->accept();
    ASSERT_TRUE(server.ok());
    out = Connection{std::move(*listener), std::move(*client), std::move(*server)};
  }

  TempDirectory directory;
  std::unique_ptr<RealRuntime> runtime;
};

TEST_F(RealNetworkTest, LoopbackEchoWithConcurrentClientsAndLargePayloads) {
  run_echo_test("127.0.0.1");
}

TEST_F(RealNetworkTest, WriteAllParksWhileThePeerDoesNotReadThenCompletes) {
  // Far more than loopback's socket buffers can hold (tcp_wmem + tcp_rmem maxima).
  const std::vector<std::byte> payload = pattern(64 * 1024 * 1024, 5);
  runtime->run([&] {
    Scheduler& scheduler = runtime->scheduler();
    Connection connection;
    ASSERT_NO_FATAL_FAILURE(connect_loopback(connection));
    Event written(scheduler);
    scheduler.spawn("writer", [&] {
      EXPECT_TRUE(connection.client->write_all(payload).ok());
      written.set();
    });
    scheduler.sleep_for(milliseconds(20));
    EXPECT_FALSE(written.is_set()) << "write_all returned before the peer read anything";
    std::vector<std::byte> received(payload.size());
    ASSERT_TRUE(connection.server->read_exactly(received).ok());
    written.wait();
    EXPECT_TRUE(received == payload);
  });
}

TEST_F(RealNetworkTest, LoopbackEchoOverIpv6) { run_echo_test("::1"); }

TEST_F(RealNetworkTest, ConnectToAClosedPortIsRefused) {
  runtime->run([&] {
    auto listener = runtime->network().listen(Address{"127.0.0.1", 0});
    ASSERT_TRUE(listener.ok());
    const Address address = (*listener)->local_address();
    (*listener)->close();
    auto connected = runtime->network().connect(address, seconds(5));
    ASSERT_FALSE(connected.ok());
    EXPECT_EQ(connected.error(), IoError::refused);
  });
}

// A listener whose accept queue is full drops new SYNs, so a connect to it can only
// end by its timeout. The test builds such a listener with the OS directly.
TEST_F(RealNetworkTest, ConnectToAFullAcceptQueueTimesOut) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(fd, 0), 0);
  socklen_t length = sizeof(address);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const Address server{"127.0.0.1", ntohs(address.sin_port)};
  std::vector<IoError> errors;
  runtime->run([&] {
    std::vector<std::unique_ptr<Stream>> connected;
    for (int i = 0; i < 6 && errors.empty(); i++) {
      auto stream = runtime->network().connect(server, milliseconds(300));
      if (stream) {
        connected.push_back(std::move(stream).value());
      } else {
        errors.push_back(stream.error());
      }
    }
  });
  ::close(fd);
  ASSERT_EQ(errors.size(), 1u) << "every connect succeeded although nobody accepts";
  EXPECT_EQ(errors[0], IoError::timed_out);
}

TEST_F(RealNetworkTest, ListeningOnATakenPortIsAddressInUse) {
  runtime->run([&] {
    auto first = runtime->network().listen(Address{"127.0.0.1", 0});
    ASSERT_TRUE(first.ok());
    auto second = runtime->network().listen((*first)->local_address());
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error(), IoError::address_in_use);
  });
}

TEST_F(RealNetworkTest, UnresolvableHostIsNotFound) {
  runtime->run([&] {
    auto connected = runtime->network().connect(Address{"no such host.invalid", 9}, seconds(1));
    ASSERT_FALSE(connected.ok());
    EXPECT_EQ(connected.error(), IoError::not_found);
    auto empty = runtime->network().connect(Address{"", 9}, seconds(1));
    ASSERT_FALSE(empty.ok());
    EXPECT_EQ(empty.error(), IoError::invalid);
  });
}

TEST_F(RealNetworkTest, CloseWakesAFiberBlockedInReadWithClosed) {
  runtime->run([&] {
    Scheduler& scheduler = runtime->scheduler();
    Connection connection;
    ASSERT_NO_FATAL_FAILURE(connect_loopback(connection));
    Stream& stream = *connection.client;
    std::optional<IoError> read_error;
    Event reader_done(scheduler);
    scheduler.spawn("reader", [&] {
      std::byte byte{};
      auto got = stream.read_some(std::span(&byte, 1));
      if (!got) read_error = got.error();
      reader_done.set();
    });
    scheduler.yield();  // the reader finds nothing to read and parks
    EXPECT_FALSE(reader_done.is_set());
    stream.close();
    reader_done.wait();
    EXPECT_EQ(read_error, IoError::closed);
    std::byte byte{};
    auto after = stream.write_all(std::span(&byte, 1));
    ASSERT_FALSE(after.ok());
    EXPECT_EQ(after.error(), IoError::closed);
  });
}

TEST_F(RealNetworkTest, PeerCloseIsEndOfStreamAndPeerAddressesMatch) {
  runtime->run([&] {
    Connection connection;
    ASSERT_NO_FATAL_FAILURE(connect_loopback(connection));
    Stream& client = *connection.client;
    Stream& accepted = *connection.server;
    EXPECT_EQ(client.peer(), connection.listener->local_address());
    EXPECT_EQ(accepted.peer().host, "127.0.0.1");
    const std::vector<std::byte> hello = pattern(5, 1);
    ASSERT_TRUE(client.write_all(hello).ok());
    client.close();
    std::vector<std::byte> got(5);
    ASSERT_TRUE(accepted.read_exactly(got).ok());
    EXPECT_TRUE(got == hello);
    std::vector<std::byte> more(16);
    auto end = accepted.read_some(more);
    ASSERT_TRUE(end.ok());
    EXPECT_EQ(*end, 0u);
    auto short_read = accepted.read_exactly(more);
    ASSERT_FALSE(short_read.ok());
    EXPECT_EQ(short_read.error(), IoError::reset);
  });
}

TEST_F(RealNetworkTest, AcceptBlocksUntilAClientConnects) {
  runtime->run([&] {
    Scheduler& scheduler = runtime->scheduler();
    auto listener = runtime->network().listen(Address{"127.0.0.1", 0});
    ASSERT_TRUE(listener.ok());
    bool accepted = false;
    Event done(scheduler);
    scheduler.spawn("acceptor", [&] {
      accepted = (*listener)->accept().ok();
      done.set();
    });
    scheduler.sleep_for(milliseconds(5));
    EXPECT_FALSE(done.is_set());
    auto client = runtime->network().connect((*listener)->local_address(), seconds(5));
    ASSERT_TRUE(client.ok());
    done.wait();
    EXPECT_TRUE(accepted);
  });
}

// Sets this process's soft open-file limit for the test's lifetime; restores it after.
class SoftOpenFileLimit {
 public:
  explicit SoftOpenFileLimit(rlim_t soft) {
    VERIFY(::getrlimit(RLIMIT_NOFILE, &saved_) == 0);
    rlimit lowered = saved_;
    lowered.rlim_cur = soft;
    VERIFY(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  }
  ~SoftOpenFileLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  SoftOpenFileLimit(const SoftOpenFileLimit&) = delete;
  SoftOpenFileLimit& operator=(const SoftOpenFileLimit&) = delete;

 private:
  rlimit saved_{};
};

// Issue 13: out of descriptors, accept and connect return an error value at once (the
// pending connection stays queued), and accept works again once one is closed.
TEST_F(RealNetworkTest, OutOfDescriptorsAcceptAndConnectAreTooManyOpenFiles) {
  runtime->run([&] {
    auto listener = runtime->network().listen(Address{"127.0.0.1", 0});
    ASSERT_TRUE(listener.ok());
    auto client = runtime->network().connect((*listener)->local_address(), seconds(5));
    ASSERT_TRUE(client.ok());
    // Use up every descriptor below a low soft limit.
    const int probe = ::dup(0);
    ASSERT_GE(probe, 0);
    ::close(probe);
    SoftOpenFileLimit limit(static_cast<rlim_t>(probe) + 8);
    std::vector<int> hoard;
    while (true) {
      const int fd = ::dup(0);
      if (fd < 0) break;
      hoard.push_back(fd);
    }
    auto refused = (*listener)->accept();
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error(), IoError::too_many_open_files);
    auto unconnected = runtime->network().connect((*listener)->local_address(), seconds(5));
    ASSERT_FALSE(unconnected.ok());
    EXPECT_EQ(unconnected.error(), IoError::too_many_open_files);
    ::close(hoard.back());
    hoard.pop_back();
    auto accepted = (*listener)->accept();
    EXPECT_TRUE(accepted.ok()) << "the queued connection is accepted once a descriptor frees";
    for (int fd : hoard) ::close(fd);
  });
}

TEST(OpenFileLimitTest, RaisesTheSoftLimitToTheHardOne) {
  rlimit original{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &original), 0);
  if (original.rlim_max == RLIM_INFINITY || original.rlim_max <= 64) {
    GTEST_SKIP() << "needs a finite hard open-file limit above 64";
  }
  {
    SoftOpenFileLimit low(64);
    const OpenFileLimitChange change = raise_open_file_limit();
    EXPECT_EQ(change.before, 64u);
    EXPECT_EQ(change.after, original.rlim_max);
    EXPECT_TRUE(change.raised());
    rlimit now{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
    EXPECT_EQ(now.rlim_cur, original.rlim_max);
    // At the hard limit already: nothing to raise.
    EXPECT_FALSE(raise_open_file_limit().raised());
  }
}

}  // namespace
}  // namespace weir::runtime::real
