#include "runtime/real/worker.h"

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace weir::runtime::real {

BlockingWorker::BlockingWorker(Scheduler& scheduler, EpollReactor& reactor)
    : scheduler_(scheduler), reactor_(reactor) {
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  VERIFY(event_fd_ >= 0, "eventfd failed: errno {}", errno);
  reactor_.add(event_fd_, *this, EPOLLIN);
  // The thread starts with every signal blocked, so that SIGTERM and SIGINT reach the
  // loop thread's signalfd instead of killing the process from here.
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  VERIFY(pthread_sigmask(SIG_BLOCK, &all, &previous) == 0);
  thread_ = std::thread([this] { thread_main(); });
  VERIFY(pthread_sigmask(SIG_SETMASK, &previous, nullptr) == 0);
}

BlockingWorker::~BlockingWorker() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_available_.notify_one();
  thread_.join();
  reactor_.remove(event_fd_);
  ::close(event_fd_);
}

int BlockingWorker::run_and_wait(std::function<int()> job_work) {
  auto job = std::make_shared<Job>();
  job->work = std::move(job_work);
  job->waker = scheduler_.prepare_wait();
  {
    std::lock_guard lock(mutex_);
    VERIFY(!stopping_);
    queued_.push_back(job);
  }
  work_available_.notify_one();
  InterestGuard interest(reactor_);
  // Only this job's completion wakes this wait; cancellation throws from suspend and
  // leaves the job to finish on its own (it owns its resources).
  while (true) {
    scheduler_.suspend();
    if (job->done) return job->result;
    job->waker = scheduler_.prepare_wait();
  }
}

void BlockingWorker::on_ready(uint32_t events) {
  uint64_t count = 0;
  // Draining the counter re-arms the edge for the next completion.
  while (::read(event_fd_, &count, sizeof(count)) > 0) {
  }
  std::deque<std::shared_ptr<Job>> completed;
  {
    std::lock_guard lock(mutex_);
    completed.swap(completed_);
  }
  for (const auto& job : completed) {
    job->done = true;
    completed_count_++;
    job->waker.wake();
  }
}

void BlockingWorker::thread_main() {
  while (true) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mutex_);
      work_available_.wait(lock, [this] { return stopping_ || !queued_.empty(); });
      if (queued_.empty()) return;  // stopping, and nothing left to run
      job = std::move(queued_.front());
      queued_.pop_front();
    }
    job->result = job->work();
    {
      std::lock_guard lock(mutex_);
      completed_.push_back(std::move(job));
    }
    const uint64_t one = 1;
    // The eventfd counter cannot overflow at one write per job, so the write succeeds.
    [[maybe_unused]] const ssize_t written = ::write(event_fd_, &one, sizeof(one));
  }
}

}  // namespace weir::runtime::real
