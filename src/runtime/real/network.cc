#include "runtime/real/network.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/real/errno.h"

namespace weir::runtime::real {

namespace {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

IoResult<std::vector<SocketAddress>> resolve(const Address& address, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  const std::string port = std::to_string(address.port);
  std::string host = address.host;
  // "Every address" means IPv4's; an explicit "::" listens on IPv6 (and, with the
  // kernel's default bindv6only=0, on IPv4 too).
  if (host.empty() && passive) host = "0.0.0.0";
  if (host.empty()) return unexpected(IoError::invalid);
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    if (rc == EAI_SYSTEM) return unexpected(io_error_from_errno(errno));
    // An unknown or unresolvable host: nothing of that name can be reached now.
    return unexpected(IoError::not_found);
  }
  std::vector<SocketAddress> addresses;
  for (addrinfo* info = found; info != nullptr; info = info->ai_next) {
    SocketAddress entry;
    VERIFY(info->ai_addrlen <= sizeof(entry.storage));
    std::memcpy(&entry.storage, info->ai_addr, info->ai_addrlen);
    entry.length = info->ai_addrlen;
    entry.family = info->ai_family;
    addresses.push_back(entry);
  }
  freeaddrinfo(found);
  if (addresses.empty()) return unexpected(IoError::not_found);
  return addresses;
}

Address to_address(const sockaddr_storage& storage) {
  char text[INET6_ADDRSTRLEN] = {};
  if (storage.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(storage);
    inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof(text));
    return Address{text, ntohs(v6.sin6_port)};
  }
  VERIFY(storage.ss_family == AF_INET, "unexpected address family {}", storage.ss_family);
  const auto& v4 = reinterpret_cast<const sockaddr_in&>(storage);
  inet_ntop(AF_INET, &v4.sin_addr, text, sizeof(text));
  return Address{text, ntohs(v4.sin_port)};
}

void set_option(int fd, int level, int name) {
  const int one = 1;
  const int rc = setsockopt(fd, level, name, &one, sizeof(one));
  VERIFY(rc == 0, "setsockopt({}, {}) failed: errno {}", level, name, errno);
}

// Wakes the fibers parked on one socket.
class SocketWatch final : public FdHandler {
 public:
  void on_ready(uint32_t events) override {
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readers.notify_all();
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writers.notify_all();
  }
  void wake_all() {
    readers.notify_all();
    writers.notify_all();
  }
  WaitQueue readers;
  WaitQueue writers;
};

// One non-blocking descriptor registered with the reactor, and the fibers parked on
// it. Closing deregisters it and wakes them all, so a fiber blocked in a read, write
// or accept sees `closed` instead of sleeping forever. Streams and listeners own one.
class WatchedSocket {
 public:
  WatchedSocket(Scheduler& scheduler, EpollReactor& reactor, int fd, uint32_t events)
      : scheduler_(scheduler), reactor_(reactor), fd_(fd) {
    VERIFY(fd_ >= 0);
    reactor_.add(fd_, watch_, events);
  }
  ~WatchedSocket() { close(); }
  WatchedSocket(const WatchedSocket&) = delete;
  WatchedSocket& operator=(const WatchedSocket&) = delete;

  // -1 once closed.
  int fd() const { return fd_; }
  // Both park the calling fiber until the reactor reports readiness (or close()).
  void wait_readable() { wait_io(scheduler_, reactor_, watch_.readers); }
  void wait_writable() { wait_io(scheduler_, reactor_, watch_.writers); }

  void close() {
    if (fd_ < 0) return;
    reactor_.remove(fd_);
    ::close(fd_);
    fd_ = -1;
    watch_.wake_all();
  }

 private:
  Scheduler& scheduler_;
  EpollReactor& reactor_;
  int fd_;
  SocketWatch watch_;
};

class RealStream final : public Stream {
 public:
  RealStream(Scheduler& scheduler, EpollReactor& reactor, int fd, Address peer)
      : socket_(scheduler, reactor, fd, EpollReactor::default_events), peer_(std::move(peer)) {}
  ~RealStream() override { close(); }

  IoResult<size_t> read_some(std::span<std::byte> buffer) override {
    VERIFY(!buffer.empty(), "a read of zero bytes would look like end of stream");
    while (true) {
      if (socket_.fd() < 0) return unexpected(IoError::closed);
      const ssize_t n = ::recv(socket_.fd(), buffer.data(), buffer.size(), 0);
      if (n >= 0) {
        VERIFY(static_cast<size_t>(n) <= buffer.size());
        return static_cast<size_t>(n);
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return unexpected(io_error_from_errno(errno));
      socket_.wait_readable();
    }
  }

  IoResult<void> write_all(std::span<const std::byte> bytes) override {
    size_t written = 0;
    while (written < bytes.size()) {
      if (socket_.fd() < 0) return unexpected(IoError::closed);
      const ssize_t n =
          ::send(socket_.fd(), bytes.data() + written, bytes.size() - written, MSG_NOSIGNAL);
      if (n >= 0) {
        written += static_cast<size_t>(n);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return unexpected(io_error_from_errno(errno));
      socket_.wait_writable();
    }
    VERIFY(written == bytes.size());
    return {};
  }

  void close() override { socket_.close(); }

  Address peer() const override { return peer_; }

 private:
  WatchedSocket socket_;
  Address peer_;
};

class RealListener final : public Listener {
 public:
  RealListener(Scheduler& scheduler, EpollReactor& reactor, int fd, Address local)
      : scheduler_(scheduler),
        reactor_(reactor),
        socket_(scheduler, reactor, fd, EPOLLIN),
        local_(std::move(local)) {}
  ~RealListener() override { close(); }

  IoResult<std::unique_ptr<Stream>> accept() override {
    while (true) {
      if (socket_.fd() < 0) return unexpected(IoError::closed);
      sockaddr_storage peer{};
      socklen_t length = sizeof(peer);
      const int fd = ::accept4(socket_.fd(), reinterpret_cast<sockaddr*>(&peer), &length,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        set_option(fd, IPPROTO_TCP, TCP_NODELAY);
        return std::unique_ptr<Stream>(
            std::make_unique<RealStream>(scheduler_, reactor_, fd, to_address(peer)));
      }
      // A connection that died while queued is the peer's problem, not the listener's.
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return unexpected(io_error_from_errno(errno));
      socket_.wait_readable();
    }
  }

  Address local_address() const override { return local_; }

  void close() override { socket_.close(); }

 private:
  Scheduler& scheduler_;
  EpollReactor& reactor_;
  WatchedSocket socket_;
  Address local_;
};

// Closes a descriptor on scope exit unless released.
class FdOwner {
 public:
  explicit FdOwner(int fd) : fd_(fd) {}
  ~FdOwner() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdOwner(const FdOwner&) = delete;
  FdOwner& operator=(const FdOwner&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace

IoResult<std::unique_ptr<Listener>> RealNetwork::listen(const Address& address) {
  auto resolved = resolve(address, /*passive=*/true);
  if (!resolved) return unexpected(resolved.error());
  const SocketAddress& where = resolved->front();
  FdOwner fd(::socket(where.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return unexpected(io_error_from_errno(errno));
  set_option(fd.get(), SOL_SOCKET, SO_REUSEADDR);
  if (::bind(fd.get(), where.get(), where.length) != 0) {
    return unexpected(io_error_from_errno(errno));
  }
  if (::listen(fd.get(), SOMAXCONN) != 0) return unexpected(io_error_from_errno(errno));
  sockaddr_storage local{};
  socklen_t length = sizeof(local);
  const int rc = ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &length);
  VERIFY(rc == 0, "getsockname failed: errno {}", errno);
  Address bound = to_address(local);
  VERIFY(bound.port != 0, "the kernel bound no port");
  VERIFY(address.port == 0 || bound.port == address.port);
  return std::unique_ptr<Listener>(
      std::make_unique<RealListener>(scheduler_, reactor_, fd.release(), std::move(bound)));
}

IoResult<std::unique_ptr<Stream>> RealNetwork::connect(const Address& address,
                                                       Duration timeout) {
  const Instant deadline = scheduler_.now() + timeout;
  auto resolved = resolve(address, /*passive=*/false);
  if (!resolved) return unexpected(resolved.error());
  IoError last_error = IoError::refused;
  for (const SocketAddress& where : *resolved) {
    FdOwner fd(::socket(where.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return unexpected(io_error_from_errno(errno));
    set_option(fd.get(), IPPROTO_TCP, TCP_NODELAY);
    int rc = ::connect(fd.get(), where.get(), where.length);
    if (rc != 0 && errno != EINPROGRESS) {
      last_error = io_error_from_errno(errno);
      continue;
    }
    if (rc != 0) {
      // Completion shows as writability; SO_ERROR then holds the outcome.
      SocketWatch watch;
      reactor_.add(fd.get(), watch, EPOLLOUT);
      WaitResult waited = WaitResult::woken;
      try {
        waited = wait_io(scheduler_, reactor_, watch.writers, deadline);
      } catch (...) {
        reactor_.remove(fd.get());
        throw;
      }
      reactor_.remove(fd.get());
      if (waited == WaitResult::timed_out) return unexpected(IoError::timed_out);
      int error = 0;
      socklen_t length = sizeof(error);
      rc = ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
      VERIFY(rc == 0, "getsockopt(SO_ERROR) failed: errno {}", errno);
      if (error != 0) {
        last_error = io_error_from_errno(error);
        continue;
      }
    }
    Address peer = to_address(where.storage);
    return std::unique_ptr<Stream>(
        std::make_unique<RealStream>(scheduler_, reactor_, fd.release(), std::move(peer)));
  }
  return unexpected(last_error);
}

}  // namespace weir::runtime::real
