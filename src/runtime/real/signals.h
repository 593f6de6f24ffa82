// Termination signals as a runtime Event, via signalfd, so that `weir server` shuts
// down cleanly from an ordinary fiber and no async-signal handler (and no global
// state) exists.
//
// Invariants:
//  - While a SignalWatcher lives, its signals are blocked on the loop thread (threads
//    the runtime starts block all signals), so they queue on the signalfd instead of
//    running their default action; the destructor restores the previous mask.
//  - A live watcher counts as reactor interest: a signal can always still arrive, so a
//    scheduler whose fibers all wait for it keeps waiting rather than stopping.
#pragma once

#include <signal.h>

#include <initializer_list>
#include <optional>

#include "runtime/real/reactor.h"
#include "runtime/scheduler.h"
#include "runtime/sync.h"

namespace weir::runtime::real {

class SignalWatcher final : private FdHandler {
 public:
  // Call on the loop thread, before starting threads that should not see the signals.
  SignalWatcher(Scheduler& scheduler, EpollReactor& reactor,
                std::initializer_list<int> signals = {SIGTERM, SIGINT});
  ~SignalWatcher() override;
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  // Set when the first of the signals arrives; later ones are only counted.
  Event& received() { return received_; }
  std::optional<int> first_signal() const { return first_signal_; }
  uint64_t received_count() const { return received_count_; }

 private:
  void on_ready(uint32_t events) override;

  EpollReactor& reactor_;
  Event received_;
  sigset_t previous_mask_{};
  int signal_fd_ = -1;
  std::optional<int> first_signal_;
  uint64_t received_count_ = 0;
};

}  // namespace weir::runtime::real
