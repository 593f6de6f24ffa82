// Byte-stream networking. Every method may suspend the calling fiber (and so may throw
// Cancelled). The real backend maps these onto non-blocking sockets and epoll; the
// simulator onto its own per-connection FIFO streams with latency, loss of
// connectivity, clogging and resets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <fmt/format.h>

#include "runtime/io_error.h"
#include "runtime/clock.h"

namespace weir::runtime {

struct Address {
  std::string host;
  uint16_t port = 0;
  auto operator<=>(const Address&) const = default;
  std::string to_string() const { return fmt::format("{}:{}", host, port); }
};

class Stream {
 public:
  virtual ~Stream() = default;
  // Reads at least one byte. Returns 0 at a clean end of stream.
  virtual IoResult<size_t> read_some(std::span<std::byte> buffer) = 0;
  // Writes all bytes (suspending while the send side is full).
  virtual IoResult<void> write_all(std::span<const std::byte> bytes) = 0;
  // Closes both directions; pending reads and writes of other fibers fail with closed.
  virtual void close() = 0;
  virtual Address peer() const = 0;

  // Reads exactly buffer.size() bytes; a premature end of stream is `reset`.
  IoResult<void> read_exactly(std::span<std::byte> buffer);
};

class Listener {
 public:
  virtual ~Listener() = default;
  virtual IoResult<std::unique_ptr<Stream>> accept() = 0;
  // The bound address (the real port when listening on port 0).
  virtual Address local_address() const = 0;
  virtual void close() = 0;
};

class Network {
 public:
  virtual ~Network() = default;
  virtual IoResult<std::unique_ptr<Listener>> listen(const Address& address) = 0;
  virtual IoResult<std::unique_ptr<Stream>> connect(const Address& address,
                                                    Duration timeout) = 0;
};

}  // namespace weir::runtime
