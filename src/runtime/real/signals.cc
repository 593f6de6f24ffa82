#include "runtime/real/signals.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>

namespace weir::runtime::real {

SignalWatcher::SignalWatcher(Scheduler& scheduler, EpollReactor& reactor,
                             std::initializer_list<int> signals)
    : reactor_(reactor), received_(scheduler) {
  VERIFY(signals.size() > 0);
  sigset_t mask;
  sigemptyset(&mask);
  for (int signal_number : signals) {
    VERIFY(sigaddset(&mask, signal_number) == 0, "bad signal {}", signal_number);
  }
  VERIFY(pthread_sigmask(SIG_BLOCK, &mask, &previous_mask_) == 0);
  signal_fd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  VERIFY(signal_fd_ >= 0, "signalfd failed: errno {}", errno);
  reactor_.add(signal_fd_, *this, EPOLLIN);
  reactor_.add_interest();
}

SignalWatcher::~SignalWatcher() {
  reactor_.remove_interest();
  reactor_.remove(signal_fd_);
  ::close(signal_fd_);
  pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
}

void SignalWatcher::on_ready(uint32_t events) {
  signalfd_siginfo info{};
  while (::read(signal_fd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
    received_count_++;
    if (!first_signal_) first_signal_ = static_cast<int>(info.ssi_signo);
    received_.set();
  }
}

}  // namespace weir::runtime::real
