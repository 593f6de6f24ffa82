// RealNetwork: non-blocking TCP over IPv4 and IPv6, driven by the EpollReactor.
//
// Every socket is non-blocking, close-on-exec and (for streams) TCP_NODELAY, because the
// broker frames its own requests and batches its own writes; Nagle would only add
// latency. Listeners set SO_REUSEADDR so a restarted broker can rebind at once.
//
// Invariants:
//  - An operation first tries its syscall and parks on the reactor only on EAGAIN.
//  - close() is idempotent; it wakes every fiber parked on the socket, and each of them
//    then fails with IoError::closed. The destructor closes.
//  - Host names are resolved with getaddrinfo on the loop thread (blocking). Brokers
//    are configured with numeric addresses or names in /etc/hosts; a DNS round trip on
//    the loop is accepted for now.
#pragma once

#include <memory>

#include "runtime/network.h"
#include "runtime/real/reactor.h"
#include "runtime/scheduler.h"

namespace weir::runtime::real {

class RealNetwork final : public Network {
 public:
  RealNetwork(Scheduler& scheduler, EpollReactor& reactor)
      : scheduler_(scheduler), reactor_(reactor) {}

  // An empty host listens on every IPv4 address; port 0 picks a free port, which
  // Listener::local_address() reports.
  IoResult<std::unique_ptr<Listener>> listen(const Address& address) override;
  // Tries each resolved address in turn until one connects or `timeout` has passed.
  IoResult<std::unique_ptr<Stream>> connect(const Address& address,
                                            Duration timeout) override;

 private:
  Scheduler& scheduler_;
  EpollReactor& reactor_;
};

}  // namespace weir::runtime::real
