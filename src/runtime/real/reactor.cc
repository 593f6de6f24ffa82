#include "runtime/real/reactor.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>

namespace weir::runtime::real {

const uint32_t EpollReactor::default_events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;

EpollReactor::EpollReactor(const Clock& clock) : clock_(clock) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  VERIFY(epoll_fd_ >= 0, "epoll_create1 failed: errno {}", errno);
}

EpollReactor::~EpollReactor() {
  VERIFY(handlers_.empty(), "{} descriptors still registered", handlers_.size());
  ::close(epoll_fd_);
}

void EpollReactor::add(int fd, FdHandler& handler, uint32_t events) {
  VERIFY(fd >= 0);
  VERIFY(!handlers_.contains(fd), "fd {} registered twice", fd);
  epoll_event event{};
  event.events = events | EPOLLET;
  event.data.fd = fd;
  const int rc = epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
  VERIFY(rc == 0, "epoll_ctl ADD fd {} failed: errno {}", fd, errno);
  handlers_.emplace(fd, &handler);
}

void EpollReactor::remove(int fd) {
  auto it = handlers_.find(fd);
  VERIFY(it != handlers_.end(), "fd {} is not registered", fd);
  handlers_.erase(it);
  const int rc = epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  VERIFY(rc == 0, "epoll_ctl DEL fd {} failed: errno {}", fd, errno);
}

bool EpollReactor::wait(std::optional<Instant> deadline) {
  if (!deadline && interest_ == 0) return false;
  int timeout_ms = -1;
  if (deadline) {
    const Duration remaining = *deadline - clock_.now();
    if (remaining <= Duration::zero()) {
      timeout_ms = 0;
    } else {
      // Round up so that when epoll returns on timeout the deadline has passed and the
      // scheduler fires the timer instead of waiting again for a fraction of a ms.
      const int64_t ms = (remaining.count() + 999'999) / 1'000'000;
      timeout_ms = static_cast<int>(std::min<int64_t>(ms, INT_MAX));
    }
  }
  std::array<epoll_event, 128> events;
  const int count = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                               timeout_ms);
  if (count < 0) {
    VERIFY(errno == EINTR, "epoll_wait failed: errno {}", errno);
    return true;
  }
  for (int i = 0; i < count; i++) {
    // Handlers only wake fibers, so none can close a descriptor of this batch.
    auto it = handlers_.find(events[static_cast<size_t>(i)].data.fd);
    if (it == handlers_.end()) continue;
    it->second->on_ready(events[static_cast<size_t>(i)].events);
  }
  return true;
}

WaitResult wait_io(Scheduler& scheduler, EpollReactor& reactor, WaitQueue& queue,
                   std::optional<Instant> deadline) {
  queue.add(scheduler.prepare_wait());
  InterestGuard interest(reactor);
  return scheduler.suspend(deadline);
}

}  // namespace weir::runtime::real
