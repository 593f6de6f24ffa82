#include "runtime/real/runtime.h"

#include <cerrno>
#include <exception>
#include <sys/random.h>

#include <fmt/format.h>

#include "runtime/real/limits.h"

namespace weir::runtime::real {

uint64_t os_random_seed() {
  uint64_t seed = 0;
  ssize_t got = 0;
  do {
    got = getrandom(&seed, sizeof(seed), 0);
  } while (got < 0 && errno == EINTR);
  VERIFY(got == static_cast<ssize_t>(sizeof(seed)), "getrandom failed: errno {}", errno);
  return seed;
}

IoResult<std::unique_ptr<RealRuntime>> RealRuntime::create(const std::string& data_root,
                                                           OpenFileLimit open_file_limit) {
  // First, so that nothing the runtime opens is refused at the old limit.
  const OpenFileLimitChange limit = raise_open_file_limit();
  std::unique_ptr<RealRuntime> runtime(new RealRuntime(os_random_seed()));
  if (limit.raised() && open_file_limit == OpenFileLimit::raise_and_report) {
    runtime->log_.write(
        fmt::format("raised open-file limit from {} to {}", limit.before, limit.after));
  }
  auto disk = RealDisk::open_root(runtime->worker_, data_root);
  if (!disk) return unexpected(disk.error());
  runtime->disk_ = std::move(disk).value();
  return runtime;
}

RealRuntime::RealRuntime(uint64_t seed)
    : reactor_(clock_),
      scheduler_(clock_, reactor_, /*choice=*/nullptr),
      worker_(scheduler_, reactor_),
      random_(seed),
      network_(scheduler_, reactor_) {
  // Busy fibers must not starve I/O and timers; one non-blocking epoll_wait per 64
  // fiber runs costs little against 64 switches.
  scheduler_.set_poll_interval(64);
}

RealRuntime::~RealRuntime() = default;

Env RealRuntime::env() {
  VERIFY(disk_ != nullptr);
  return Env{scheduler_, clock_, random_, network_, *disk_, buggify_, log_};
}

Event& RealRuntime::termination_requested() {
  if (!signals_) signals_ = std::make_unique<SignalWatcher>(scheduler_, reactor_);
  return signals_->received();
}

std::optional<int> RealRuntime::termination_signal() const {
  if (!signals_) return std::nullopt;
  return signals_->first_signal();
}

void RealRuntime::run(std::function<void()> main_fiber) {
  VERIFY(!scheduler_.current_fiber(), "run() is called from outside the scheduler");
  bool main_done = false;
  scheduler_.spawn(root_group, "main", [&main_done, body = std::move(main_fiber)] {
    body();
    main_done = true;
  });
  const bool stopped = scheduler_.run_until([&main_done] { return main_done; });
  if (std::exception_ptr failure = scheduler_.failure()) std::rethrow_exception(failure);
  VERIFY(stopped, "deadlock: the main fiber waits for something nothing can wake");
}

}  // namespace weir::runtime::real
