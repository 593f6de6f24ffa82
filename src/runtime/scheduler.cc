#include "runtime/scheduler.h"

#include <algorithm>
#include <utility>

#include <boost/context/protected_fixedsize_stack.hpp>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#include "base/assert.h"

namespace weir::runtime {

namespace {
// Generous for protocol code with deep call chains; pages are only committed when
// touched, and the guard page turns an overflow into a clean fault.
constexpr size_t fiber_stack_bytes = 512 * 1024;

// AddressSanitizer must be told about every stack switch, or it takes the first
// exception thrown on a fiber stack for a stack overflow. Each switch is bracketed:
// start_switch before leaving a stack (null `fake_stack` when the stack being left
// dies), finish_switch on arrival.
#if defined(__SANITIZE_ADDRESS__)
void start_switch(void** fake_stack, const void* bottom, size_t size) {
  __sanitizer_start_switch_fiber(fake_stack, bottom, size);
}
void finish_switch(void* fake_stack, const void** bottom_old, size_t* size_old) {
  __sanitizer_finish_switch_fiber(fake_stack, bottom_old, size_old);
}
#else
void start_switch(void**, const void*, size_t) {}
void finish_switch(void*, const void**, size_t*) {}
#endif

// At most this many stacks wait for reuse; their touched pages stay committed.
constexpr size_t free_stacks_max = 64;

// protected_fixedsize_stack with a free list owned by the scheduler, recording where
// each stack lies for the annotations. Boost deallocates a fiber's stack from the
// scheduler's context once the fiber has finished, so the free list is only touched on
// the scheduler's thread.
class PooledStack {
 public:
  PooledStack(std::vector<boost::context::stack_context>* free_stacks, const void** bottom,
              size_t* size)
      : free_stacks_(free_stacks), bottom_(bottom), size_(size) {}
  boost::context::stack_context allocate() {
    boost::context::stack_context context;
    if (free_stacks_->empty()) {
      context = inner_.allocate();
    } else {
      context = free_stacks_->back();
      free_stacks_->pop_back();
    }
    *bottom_ = static_cast<const char*>(context.sp) - context.size;
    *size_ = context.size;
#if defined(__SANITIZE_ADDRESS__)
    // The previous fiber may have left poisoned redzones behind.
    __asan_unpoison_memory_region(*bottom_, *size_);
#endif
    return context;
  }
  void deallocate(boost::context::stack_context& context) noexcept {
    if (free_stacks_->size() < free_stacks_max) {
      free_stacks_->push_back(context);
    } else {
      inner_.deallocate(context);
    }
  }
  static void release(boost::context::stack_context& context) {
    boost::context::protected_fixedsize_stack(fiber_stack_bytes).deallocate(context);
  }

 private:
  boost::context::protected_fixedsize_stack inner_{fiber_stack_bytes};
  std::vector<boost::context::stack_context>* free_stacks_;
  const void** bottom_;
  size_t* size_;
};
}  // namespace

struct Scheduler::Fiber {
  FiberId id;
  GroupId group;
  std::string name;
  boost::context::fiber context;
  uint64_t wait_sequence = 0;
  WaitResult wake_reason = WaitResult::woken;
  bool waiting = false;
  bool runnable = false;
  bool cancelled = false;
  bool finished = false;
  const void* stack_bottom = nullptr;
  size_t stack_size = 0;
};

bool Waker::wake() const {
  if (scheduler_ == nullptr) return false;
  return scheduler_->wake(fiber_, sequence_);
}

Scheduler::Scheduler(const Clock& clock, Reactor& reactor, Random* choice, Tracer* tracer)
    : clock_(clock), reactor_(reactor), choice_(choice), tracer_(tracer) {
  groups_.emplace(root_group, "root");
}

Scheduler::~Scheduler() {
  // Unwind whatever is left so that destructors on fiber stacks run.
  for (auto& [id, group] : groups_) {
    for (auto& [fiber_id, fiber] : fibers_) {
      if (fiber->group == id) fiber->cancelled = true;
    }
  }
  while (!fibers_.empty()) {
    Fiber& fiber = *fibers_.begin()->second;
    fiber.cancelled = true;
    resume(fiber);
  }
  for (boost::context::stack_context& stack : free_stacks_) PooledStack::release(stack);
}

FiberId Scheduler::spawn(GroupId group, std::string name, std::function<void()> body) {
  VERIFY(groups_.contains(group), "spawn into dead group {}", group);
  const FiberId id{next_fiber_id_++};
  auto fiber = std::make_unique<Fiber>();
  Fiber* raw = fiber.get();
  raw->id = id;
  raw->group = group;
  raw->name = std::move(name);
  raw->context = boost::context::fiber(
      std::allocator_arg, PooledStack(&free_stacks_, &raw->stack_bottom, &raw->stack_size),
      [this, raw, body = std::move(body)](boost::context::fiber&& sink) mutable {
        finish_switch(nullptr, &scheduler_stack_bottom_, &scheduler_stack_size_);
        scheduler_context_ = std::move(sink);
        try {
          if (!raw->cancelled) body();
        } catch (const Cancelled&) {
          // The normal end of a cancelled fiber.
        } catch (const boost::context::detail::forced_unwind&) {
          throw;
        } catch (...) {
          if (!failure_) {
            failure_ = std::current_exception();
            failure_fiber_ = raw->name;
          }
        }
        raw->finished = true;
        start_switch(nullptr, scheduler_stack_bottom_, scheduler_stack_size_);
        return std::move(scheduler_context_);
      });
  fibers_.emplace(id, std::move(fiber));
  make_runnable(*raw);
  if (tracer_) tracer_->trace("spawn", id.value(), group.value());
  return id;
}

Scheduler::Fiber& Scheduler::current() {
  VERIFY(running_ != nullptr, "suspension point called outside a fiber");
  return *running_;
}

std::optional<FiberId> Scheduler::current_fiber() const {
  if (running_ == nullptr) return std::nullopt;
  return running_->id;
}

GroupId Scheduler::current_group() const {
  return running_ == nullptr ? root_group : running_->group;
}

void Scheduler::make_runnable(Fiber& fiber) {
  VERIFY(!fiber.finished);
  if (fiber.runnable) return;
  fiber.runnable = true;
  runnable_.push_back(fiber.id);
}

void Scheduler::switch_to_scheduler() {
  void* fake_stack = nullptr;
  start_switch(&fake_stack, scheduler_stack_bottom_, scheduler_stack_size_);
  scheduler_context_ = std::move(scheduler_context_).resume();
  finish_switch(fake_stack, &scheduler_stack_bottom_, &scheduler_stack_size_);
}

void Scheduler::check_cancelled() {
  if (current().cancelled) throw Cancelled{};
}

void Scheduler::yield() {
  Fiber& fiber = current();
  check_cancelled();
  fiber.wait_sequence++;
  make_runnable(fiber);
  switch_to_scheduler();
  check_cancelled();
}

Waker Scheduler::prepare_wait() {
  Fiber& fiber = current();
  fiber.wait_sequence++;
  fiber.waiting = true;
  fiber.wake_reason = WaitResult::woken;
  return Waker(this, fiber.id, fiber.wait_sequence);
}

WaitResult Scheduler::suspend(std::optional<Instant> deadline) {
  Fiber& fiber = current();
  if (fiber.cancelled) {
    fiber.waiting = false;
    throw Cancelled{};
  }
  if (fiber.waiting && deadline) {
    const FiberId id = fiber.id;
    const uint64_t sequence = fiber.wait_sequence;
    schedule_at(*deadline, [this, id, sequence] {
      auto it = fibers_.find(id);
      if (it == fibers_.end()) return;
      if (wake(id, sequence)) it->second->wake_reason = WaitResult::timed_out;
    });
  }
  // If a waker already fired between prepare_wait and here, the fiber is runnable and
  // this switch only yields.
  switch_to_scheduler();
  fiber.waiting = false;
  check_cancelled();
  return fiber.wake_reason;
}

void Scheduler::sleep_until(Instant deadline) {
  prepare_wait();
  suspend(deadline);
}

bool Scheduler::wake(FiberId id, uint64_t sequence) {
  auto it = fibers_.find(id);
  if (it == fibers_.end()) return false;
  Fiber& fiber = *it->second;
  if (!fiber.waiting || fiber.wait_sequence != sequence) return false;
  fiber.waiting = false;
  make_runnable(fiber);
  return true;
}

void Scheduler::schedule_at(Instant deadline, std::function<void()> callback) {
  timers_.push_back(Timer{deadline, next_timer_sequence_++, std::move(callback)});
  std::push_heap(timers_.begin(), timers_.end(), std::greater<>{});
}

std::optional<Instant> Scheduler::next_timer() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.front().deadline;
}

bool Scheduler::fire_due_timers() {
  const Instant now = clock_.now();
  bool fired = false;
  while (!timers_.empty() && timers_.front().deadline <= now) {
    std::pop_heap(timers_.begin(), timers_.end(), std::greater<>{});
    Timer timer = std::move(timers_.back());
    timers_.pop_back();
    if (tracer_) tracer_->trace("timer", static_cast<uint64_t>(timer.deadline.nanoseconds()),
                                timer.sequence);
    timer.callback();
    fired = true;
  }
  return fired;
}

GroupId Scheduler::new_group(std::string name) {
  const GroupId id{next_group_id_++};
  groups_.emplace(id, std::move(name));
  return id;
}

void Scheduler::cancel(FiberId id) {
  auto it = fibers_.find(id);
  if (it == fibers_.end()) return;
  Fiber& fiber = *it->second;
  fiber.cancelled = true;
  if (fiber.waiting) {
    fiber.waiting = false;
    make_runnable(fiber);
  }
}

void Scheduler::kill_group(GroupId group) {
  VERIFY(running_ == nullptr, "kill_group must run outside any fiber");
  VERIFY(group != root_group, "the root group cannot be killed");
  if (tracer_) tracer_->trace("kill", group.value(), 0);
  std::vector<FiberId> members;
  for (auto& [id, fiber] : fibers_) {
    if (fiber->group == group) members.push_back(id);
  }
  for (FiberId id : members) cancel(id);
  // Unwind each member now. A cancelled fiber throws from its suspension point, so each
  // resume either finishes it or (if it spawned or suspended in cleanup) repeats.
  while (true) {
    auto it = std::find_if(fibers_.begin(), fibers_.end(),
                           [&](const auto& entry) { return entry.second->group == group; });
    if (it == fibers_.end()) break;
    Fiber& fiber = *it->second;
    fiber.cancelled = true;
    std::erase(runnable_, fiber.id);
    fiber.runnable = false;
    resume(fiber);
  }
  groups_.erase(group);
  paused_until_.erase(group);
  VERIFY(fiber_count(group) == 0);
}

void Scheduler::pause_group(GroupId group, Instant until) {
  paused_until_[group] = until;
  // An event at the end of the pause, so that time advances to it even if nothing else
  // is pending.
  schedule_at(until, [] {});
}

bool Scheduler::group_paused(GroupId group) const {
  auto it = paused_until_.find(group);
  return it != paused_until_.end() && clock_.now() < it->second;
}

size_t Scheduler::fiber_count(GroupId group) const {
  return static_cast<size_t>(std::count_if(
      fibers_.begin(), fibers_.end(), [&](const auto& e) { return e.second->group == group; }));
}

std::optional<FiberId> Scheduler::pick_runnable() {
  if (runnable_.empty()) return std::nullopt;
  size_t index = 0;
  if (choice_ != nullptr) index = choice_->below(runnable_.size());
  if (!paused_until_.empty()) {
    // Rare: scan from the chosen index for a fiber whose group is not paused.
    size_t tried = 0;
    while (tried < runnable_.size() && group_paused(fibers_.at(runnable_[index])->group)) {
      index = (index + 1) % runnable_.size();
      tried++;
    }
    if (tried == runnable_.size()) return std::nullopt;
  }
  const FiberId id = runnable_[index];
  runnable_.erase(runnable_.begin() + static_cast<std::ptrdiff_t>(index));
  return id;
}

void Scheduler::resume(Fiber& fiber) {
  VERIFY(running_ == nullptr, "fibers are resumed only by the scheduler");
  fiber.runnable = false;
  running_ = &fiber;
  switches_++;
  if (tracer_) tracer_->trace("run", fiber.id.value(), fiber.wait_sequence);
  void* fake_stack = nullptr;
  start_switch(&fake_stack, fiber.stack_bottom, fiber.stack_size);
  fiber.context = std::move(fiber.context).resume();
  finish_switch(fake_stack, nullptr, nullptr);
  running_ = nullptr;
  if (fiber.finished) reap(fiber.id);
}

void Scheduler::reap(FiberId id) {
  auto it = fibers_.find(id);
  VERIFY(it != fibers_.end());
  VERIFY(it->second->finished);
  fibers_.erase(it);
}

bool Scheduler::step() {
  if (failure_) return false;
  if (poll_interval_ != 0 && !runnable_.empty() && ++runs_since_poll_ >= poll_interval_) {
    runs_since_poll_ = 0;
    fire_due_timers();
    reactor_.wait(clock_.now());
  }
  if (auto id = pick_runnable()) {
    resume(*fibers_.at(*id));
    return true;
  }
  if (fire_due_timers()) return true;
  return reactor_.wait(next_timer());
}

bool Scheduler::run_until(const std::function<bool()>& stop) {
  while (!stop()) {
    if (!step()) return false;
    if (failure_) return false;
  }
  return true;
}

}  // namespace weir::runtime
