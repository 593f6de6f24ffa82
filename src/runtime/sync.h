// Fiber synchronisation: wait queues, Promise/Future, Channel, Mutex, Semaphore and
// select with timeout. All of them suspend only through Scheduler::suspend, so the
// simulator sees (and reorders) every wait.
//
// Functions that may suspend are named for it: wait*, get*, send*, receive*, lock*,
// acquire*, select*. Each may throw Cancelled.
#pragma once

#include <cstddef>
#include <deque>
#include <initializer_list>
#include <memory>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

#include "base/assert.h"
#include "runtime/scheduler.h"

namespace weir::runtime {

// Wakers waiting for one condition. Stale wakers are skipped.
class WaitQueue {
 public:
  void add(Waker waker) { wakers_.push_back(waker); }
  // Wakes the first waiter that is still waiting. Returns whether one was woken.
  bool notify_one() {
    while (!wakers_.empty()) {
      Waker waker = wakers_.front();
      wakers_.pop_front();
      if (waker.wake()) return true;
    }
    return false;
  }
  void notify_all() {
    std::deque<Waker> wakers = std::move(wakers_);
    wakers_.clear();
    for (const Waker& waker : wakers) waker.wake();
  }
  bool empty() const { return wakers_.empty(); }

 private:
  std::deque<Waker> wakers_;
};

// Something a fiber can wait for: a select() source.
class Waitable {
 public:
  virtual ~Waitable() = default;
  virtual bool ready() const = 0;
  virtual void subscribe(Waker waker) = 0;
};

// Waits until one of `sources` is ready or the deadline passes. Returns the index of
// the first ready source, or nullopt on timeout.
inline std::optional<size_t> select_until(Scheduler& scheduler,
                                          std::initializer_list<Waitable*> sources,
                                          std::optional<Instant> deadline) {
  while (true) {
    size_t index = 0;
    for (Waitable* source : sources) {
      if (source->ready()) return index;
      index++;
    }
    if (deadline && scheduler.now() >= *deadline) return std::nullopt;
    Waker waker = scheduler.prepare_wait();
    for (Waitable* source : sources) source->subscribe(waker);
    if (scheduler.suspend(deadline) == WaitResult::timed_out) {
      index = 0;
      for (Waitable* source : sources) {
        if (source->ready()) return index;
        index++;
      }
      return std::nullopt;
    }
  }
}

// A one-shot event.
class Event final : public Waitable {
 public:
  explicit Event(Scheduler& scheduler) : scheduler_(&scheduler) {}
  void set() {
    set_ = true;
    waiters_.notify_all();
  }
  bool is_set() const { return set_; }
  bool ready() const override { return set_; }
  void subscribe(Waker waker) override { waiters_.add(waker); }
  // Returns false on timeout.
  bool wait_until(std::optional<Instant> deadline = std::nullopt) {
    while (!set_) {
      if (deadline && scheduler_->now() >= *deadline) return false;
      waiters_.add(scheduler_->prepare_wait());
      scheduler_->suspend(deadline);
    }
    return true;
  }
  void wait() { wait_until(std::nullopt); }

 private:
  Scheduler* scheduler_;
  WaitQueue waiters_;
  bool set_ = false;
};

// Why a Future holds no value.
enum class FutureError { broken_promise };

namespace detail {
template <typename T>
struct SharedState {
  explicit SharedState(Scheduler& s) : scheduler(&s) {}
  Scheduler* scheduler;
  std::optional<T> value;
  bool broken = false;
  WaitQueue waiters;
  bool done() const { return value.has_value() || broken; }
};
}  // namespace detail

template <typename T>
class Future final : public Waitable {
 public:
  bool ready() const override { return state_->done(); }
  void subscribe(Waker waker) override { state_->waiters.add(waker); }

  // Waits for the value; nullopt if the promise was dropped unfulfilled or the deadline
  // passed first.
  std::optional<T> get_until(std::optional<Instant> deadline) {
    while (!state_->done()) {
      if (deadline && state_->scheduler->now() >= *deadline) return std::nullopt;
      state_->waiters.add(state_->scheduler->prepare_wait());
      state_->scheduler->suspend(deadline);
    }
    if (state_->broken) return std::nullopt;
    return state_->value;
  }
  std::optional<T> get() { return get_until(std::nullopt); }
  std::optional<T> get_for(Duration timeout) {
    return get_until(state_->scheduler->now() + timeout);
  }
  bool broken() const { return state_->broken; }

 private:
  template <typename>
  friend class Promise;
  explicit Future(std::shared_ptr<detail::SharedState<T>> state) : state_(std::move(state)) {}
  std::shared_ptr<detail::SharedState<T>> state_;
};

template <typename T>
class Promise {
 public:
  explicit Promise(Scheduler& scheduler)
      : state_(std::make_shared<detail::SharedState<T>>(scheduler)) {}
  Promise(Promise&&) noexcept = default;
  Promise& operator=(Promise&& other) noexcept {
    break_if_unfulfilled();
    state_ = std::move(other.state_);
    return *this;
  }
  ~Promise() { break_if_unfulfilled(); }

  Future<T> future() const { return Future<T>(state_); }
  void set(T value) {
    VERIFY(state_ && !state_->done(), "a promise is fulfilled once");
    state_->value = std::move(value);
    state_->waiters.notify_all();
  }
  bool fulfilled() const { return state_->done(); }

 private:
  void break_if_unfulfilled() {
    if (state_ && !state_->done()) {
      state_->broken = true;
      state_->waiters.notify_all();
    }
  }
  std::shared_ptr<detail::SharedState<T>> state_;
};

enum class ChannelError { closed, timed_out };

// A bounded FIFO channel between fibers. send blocks while full; receive blocks while
// empty. After close, sends fail and receives drain what is left, then fail.
template <typename T>
class Channel final : public Waitable {
 public:
  Channel(Scheduler& scheduler, size_t capacity) : scheduler_(&scheduler), capacity_(capacity) {
    VERIFY(capacity > 0);
  }

  bool send(T value) {
    while (!closed_ && items_.size() >= capacity_) {
      senders_.add(scheduler_->prepare_wait());
      suspend_passing_on_cancel(std::nullopt);
    }
    if (closed_) return false;
    items_.push_back(std::move(value));
    notify_receivers();
    return true;
  }
  // Never blocks: fails if full or closed.
  bool try_send(T value) {
    if (closed_ || items_.size() >= capacity_) return false;
    items_.push_back(std::move(value));
    notify_receivers();
    return true;
  }

  std::variant<T, ChannelError> receive_until(std::optional<Instant> deadline) {
    while (items_.empty()) {
      if (closed_) return ChannelError::closed;
      if (deadline && scheduler_->now() >= *deadline) return ChannelError::timed_out;
      receivers_.add(scheduler_->prepare_wait());
      suspend_passing_on_cancel(deadline);
    }
    T value = std::move(items_.front());
    items_.pop_front();
    senders_.notify_one();
    return value;
  }
  std::optional<T> receive() {
    auto result = receive_until(std::nullopt);
    if (auto* value = std::get_if<T>(&result)) return std::move(*value);
    return std::nullopt;
  }

  void close() {
    closed_ = true;
    senders_.notify_all();
    receivers_.notify_all();
    selectors_.notify_all();
  }
  bool closed() const { return closed_; }
  size_t size() const { return items_.size(); }

  bool ready() const override { return !items_.empty() || closed_; }
  // Selectors wait apart from receivers: a woken select need not take the item, so it
  // must not use up the one wakeup meant for a receiver.
  void subscribe(Waker waker) override { selectors_.add(waker); }

 private:
  void notify_receivers() {
    receivers_.notify_one();
    selectors_.notify_all();
  }
  // A fiber woken by notify_one and then cancelled before it ran would swallow the
  // wakeup and leave the item (or the free slot) to nobody; pass it on before unwinding.
  void suspend_passing_on_cancel(std::optional<Instant> deadline) {
    try {
      scheduler_->suspend(deadline);
    } catch (const Cancelled&) {
      if (!items_.empty()) receivers_.notify_one();
      if (items_.size() < capacity_) senders_.notify_one();
      throw;
    }
  }

  Scheduler* scheduler_;
  size_t capacity_;
  std::deque<T> items_;
  WaitQueue senders_;
  WaitQueue receivers_;
  WaitQueue selectors_;
  bool closed_ = false;
};

// A counting semaphore; fair in the order waiters arrived.
class Semaphore {
 public:
  Semaphore(Scheduler& scheduler, int64_t permits) : scheduler_(&scheduler), permits_(permits) {}
  bool acquire_until(std::optional<Instant> deadline, int64_t count = 1) {
    VERIFY(count > 0);
    while (permits_ < count) {
      if (deadline && scheduler_->now() >= *deadline) return false;
      waiters_.add(scheduler_->prepare_wait());
      scheduler_->suspend(deadline);
    }
    permits_ -= count;
    return true;
  }
  void acquire(int64_t count = 1) { acquire_until(std::nullopt, count); }
  bool try_acquire(int64_t count = 1) {
    if (permits_ < count) return false;
    permits_ -= count;
    return true;
  }
  void release(int64_t count = 1) {
    VERIFY(count > 0);
    permits_ += count;
    waiters_.notify_all();
  }
  int64_t available() const { return permits_; }

 private:
  Scheduler* scheduler_;
  int64_t permits_;
  WaitQueue waiters_;
};

// A fiber mutex. Not reentrant. Use MutexGuard; never hold it across a point where the
// protected invariant does not hold.
class Mutex {
 public:
  explicit Mutex(Scheduler& scheduler) : semaphore_(scheduler, 1) {}
  void lock() { semaphore_.acquire(); }
  bool try_lock() { return semaphore_.try_acquire(); }
  void unlock() { semaphore_.release(); }
  bool locked() const { return semaphore_.available() == 0; }

 private:
  Semaphore semaphore_;
};

class MutexGuard {
 public:
  explicit MutexGuard(Mutex& mutex) : mutex_(&mutex) { mutex_->lock(); }
  ~MutexGuard() { mutex_->unlock(); }
  MutexGuard(const MutexGuard&) = delete;
  MutexGuard& operator=(const MutexGuard&) = delete;

 private:
  Mutex* mutex_;
};

}  // namespace weir::runtime
