// The real backend's Reactor: epoll, edge-triggered.
//
// Every descriptor is registered once, for all the readiness it can report, and stays
// registered until it is closed. Fibers never ask epoll for a particular readiness;
// they try the syscall, and only on EAGAIN park on a WaitQueue that the descriptor's
// FdHandler wakes when epoll reports an edge. Because the scheduler calls wait() only
// when no fiber is running, an edge cannot slip in between a fiber's EAGAIN and its
// suspension; at worst a fiber sees a stale edge, retries, and parks again.
//
// Invariants:
//  - wait() is called on the loop thread only; FdHandler::on_ready runs inside it, on
//    the scheduler's stack, and must not suspend (it only wakes fibers).
//  - interest() counts the things outside the scheduler that could still wake a fiber:
//    fibers parked on I/O, jobs on a worker thread, a signal watch. When it is zero and
//    there is no timer, nothing can ever happen, and wait() says so by returning false.
#pragma once

#include <cstdint>
#include <optional>

#include <absl/container/btree_map.h>

#include "runtime/clock.h"
#include "runtime/scheduler.h"
#include "runtime/sync.h"

namespace weir::runtime::real {

// Receives the epoll events of one registered descriptor.
class FdHandler {
 public:
  virtual ~FdHandler() = default;
  // `events` is the epoll bit set (EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLHUP, EPOLLERR).
  virtual void on_ready(uint32_t events) = 0;
};

class EpollReactor final : public Reactor {
 public:
  explicit EpollReactor(const Clock& clock);
  ~EpollReactor() override;
  EpollReactor(const EpollReactor&) = delete;
  EpollReactor& operator=(const EpollReactor&) = delete;

  // Registers `fd` edge-triggered for `events` (default: read, write, peer hang-up).
  // `handler` must stay alive until remove(fd).
  void add(int fd, FdHandler& handler, uint32_t events = default_events);
  // Must be called before the descriptor is closed.
  void remove(int fd);

  void add_interest() { interest_++; }
  void remove_interest() {
    VERIFY(interest_ > 0);
    interest_--;
  }
  int64_t interest() const { return interest_; }

  bool wait(std::optional<Instant> deadline) override;

  static const uint32_t default_events;

 private:
  const Clock& clock_;
  int epoll_fd_ = -1;
  absl::btree_map<int, FdHandler*> handlers_;
  int64_t interest_ = 0;
};

// Holds one unit of reactor interest for its lifetime (also while a fiber unwinds).
class InterestGuard {
 public:
  explicit InterestGuard(EpollReactor& reactor) : reactor_(&reactor) { reactor_->add_interest(); }
  ~InterestGuard() { reactor_->remove_interest(); }
  InterestGuard(const InterestGuard&) = delete;
  InterestGuard& operator=(const InterestGuard&) = delete;

 private:
  EpollReactor* reactor_;
};

// Parks the current fiber on `queue` until a handler wakes it or the deadline passes.
// May suspend; throws Cancelled.
WaitResult wait_io(Scheduler& scheduler, EpollReactor& reactor, WaitQueue& queue,
                   std::optional<Instant> deadline = std::nullopt);

}  // namespace weir::runtime::real
