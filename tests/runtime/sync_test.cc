// Sync primitives: Event, Promise/Future, Channel, Semaphore, Mutex, select_until.
#include "runtime/sync.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/runtime/fixture.h"

namespace weir::runtime::testing {
namespace {

using SyncTest = SchedulerTest;

TEST_F(SyncTest, EventWakesEveryWaiterAndStaysSet) {
  Event event(scheduler);
  std::vector<int64_t> woke;
  for (int i = 0; i < 3; i++) {
    scheduler.spawn("waiter", [&] {
      event.wait();
      woke.push_back(elapsed_ms());
    });
  }
  scheduler.spawn("setter", [&] {
    scheduler.sleep_for(milliseconds(5));
    event.set();
  });
  run_all();
  EXPECT_EQ(woke, (std::vector<int64_t>{5, 5, 5}));
  bool late_waiter_passed = false;
  scheduler.spawn("late", [&] { late_waiter_passed = event.wait_until(clock.now()); });
  run_all();
  EXPECT_TRUE(late_waiter_passed);
}

TEST_F(SyncTest, EventWaitTimesOutAtTheDeadline) {
  Event event(scheduler);
  bool result = true;
  scheduler.spawn("waiter", [&] { result = event.wait_until(clock.now() + milliseconds(40)); });
  run_all();
  EXPECT_FALSE(result);
  EXPECT_EQ(elapsed_ms(), 40);
}

TEST_F(SyncTest, FutureDeliversThePromisedValue) {
  Promise<std::string> promise(scheduler);
  Future<std::string> future = promise.future();
  std::optional<std::string> got;
  scheduler.spawn("reader", [&] { got = future.get(); });
  scheduler.spawn("writer", [&] {
    scheduler.sleep_for(milliseconds(3));
    promise.set("hello");
  });
  run_all();
  EXPECT_EQ(got, "hello");
  EXPECT_TRUE(promise.fulfilled());
  EXPECT_FALSE(future.broken());
}

TEST_F(SyncTest, DroppedPromiseBreaksItsFuture) {
  auto promise = std::make_unique<Promise<int>>(scheduler);
  Future<int> future = promise->future();
  std::optional<int> got = 1;
  scheduler.spawn("reader", [&] { got = future.get(); });
  scheduler.spawn("dropper", [&] { promise.reset(); });
  run_all();
  EXPECT_EQ(got, std::nullopt);
  EXPECT_TRUE(future.broken());
}

TEST_F(SyncTest, MoveAssigningOverAnUnfulfilledPromiseBreaksIt) {
  Promise<int> first(scheduler);
  Future<int> future = first.future();
  first = Promise<int>(scheduler);
  EXPECT_TRUE(future.ready());
  EXPECT_TRUE(future.broken());
}

TEST_F(SyncTest, FutureGetForTimesOut) {
  Promise<int> promise(scheduler);
  Future<int> future = promise.future();
  std::optional<int> got = 1;
  scheduler.spawn("reader", [&] { got = future.get_for(milliseconds(25)); });
  run_all();
  EXPECT_EQ(got, std::nullopt);
  EXPECT_FALSE(future.broken());
  EXPECT_EQ(elapsed_ms(), 25);
}

TEST_F(SyncTest, SettingAPromiseTwiceIsAProgrammerError) {
  Promise<int> promise(scheduler);
  promise.set(1);
  EXPECT_THROW(promise.set(2), AssertionFailure);
}

TEST_F(SyncTest, ChannelIsFifoAndSendBlocksWhileFull) {
  Channel<int> channel(scheduler, 2);
  std::vector<std::string> events;
  scheduler.spawn("sender", [&] {
    for (int i = 0; i < 4; i++) {
      ASSERT_TRUE(channel.send(i));
      events.push_back("sent " + std::to_string(i));
    }
    channel.close();
  });
  scheduler.spawn("receiver", [&] {
    scheduler.sleep_for(milliseconds(1));
    while (auto value = channel.receive()) events.push_back("got " + std::to_string(*value));
    events.push_back("closed");
  });
  run_all();
  EXPECT_EQ(events, (std::vector<std::string>{"sent 0", "sent 1", "got 0", "got 1", "sent 2",
                                              "sent 3", "got 2", "got 3", "closed"}));
}

TEST_F(SyncTest, ClosedChannelRefusesSendsButDrains) {
  Channel<int> channel(scheduler, 4);
  EXPECT_TRUE(channel.try_send(1));
  EXPECT_TRUE(channel.try_send(2));
  channel.close();
  EXPECT_FALSE(channel.try_send(3));
  std::vector<int> got;
  bool send_failed = false;
  scheduler.spawn("fiber", [&] {
    send_failed = !channel.send(4);
    while (auto value = channel.receive()) got.push_back(*value);
  });
  run_all();
  EXPECT_TRUE(send_failed);
  EXPECT_EQ(got, (std::vector<int>{1, 2}));
}

TEST_F(SyncTest, ChannelCloseWakesBlockedSendersAndReceivers) {
  Channel<int> full(scheduler, 1);
  Channel<int> empty(scheduler, 1);
  ASSERT_TRUE(full.try_send(0));
  bool send_result = true;
  std::variant<int, ChannelError> receive_result = 0;
  scheduler.spawn("sender", [&] { send_result = full.send(1); });
  scheduler.spawn("receiver", [&] { receive_result = empty.receive_until(std::nullopt); });
  scheduler.spawn("closer", [&] {
    scheduler.sleep_for(milliseconds(1));
    full.close();
    empty.close();
  });
  run_all();
  EXPECT_FALSE(send_result);
  ASSERT_TRUE(std::holds_alternative<ChannelError>(receive_result));
  EXPECT_EQ(std::get<ChannelError>(receive_result), ChannelError::closed);
}

TEST_F(SyncTest, ChannelTryOperationsAndReceiveTimeout) {
  Channel<int> channel(scheduler, 1);
  EXPECT_TRUE(channel.try_send(1));
  EXPECT_FALSE(channel.try_send(2)) << "full";
  std::vector<std::variant<int, ChannelError>> results;
  scheduler.spawn("receiver", [&] {
    results.push_back(channel.receive_until(clock.now() + milliseconds(5)));
    results.push_back(channel.receive_until(clock.now() + milliseconds(5)));
  });
  run_all();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(std::get<int>(results[0]), 1);
  EXPECT_EQ(std::get<ChannelError>(results[1]), ChannelError::timed_out);
  EXPECT_EQ(elapsed_ms(), 5);
}

// A select over a channel is woken by a send but need not consume; a plain receiver
// waiting alongside must still get the value.
TEST_F(SyncTest, ChannelValueIsNotLostWhenASelectorIsWokenInstead) {
  Channel<int> channel(scheduler, 4);
  Event other(scheduler);
  std::optional<size_t> selected;
  std::optional<int> received;
  scheduler.spawn("selector", [&] {
    selected = select_until(scheduler, {&other, &channel}, std::nullopt);
  });
  scheduler.spawn("receiver", [&] { received = channel.receive(); });
  scheduler.spawn("producer", [&] {
    scheduler.yield();
    ASSERT_TRUE(channel.send(7));
    other.set();
  });
  scheduler.run();
  EXPECT_TRUE(selected.has_value());
  EXPECT_EQ(received, 7) << "the receiver was never woken for the value";
}

// A receiver woken for a value but cancelled before it runs must pass the wakeup on.
TEST_F(SyncTest, ChannelWakeupIsPassedOnWhenTheWokenReceiverIsCancelled) {
  Channel<int> channel(scheduler, 4);
  std::optional<int> second_got;
  const FiberId first = scheduler.spawn("first", [&] { channel.receive(); });
  scheduler.spawn("second", [&] { second_got = channel.receive(); });
  scheduler.spawn("producer", [&] {
    scheduler.yield();
    ASSERT_TRUE(channel.send(9));  // wakes `first`
    scheduler.cancel(first);       // ... which dies before it can take the value
  });
  run_all();
  EXPECT_EQ(second_got, 9);
}

TEST_F(SyncTest, SemaphoreBlocksUntilEnoughPermits) {
  Semaphore semaphore(scheduler, 1);
  std::vector<std::string> events;
  scheduler.spawn("big", [&] {
    semaphore.acquire(3);
    events.push_back("big at " + std::to_string(elapsed_ms()));
  });
  scheduler.spawn("releaser", [&] {
    scheduler.sleep_for(milliseconds(5));
    semaphore.release(1);
    scheduler.sleep_for(milliseconds(5));
    semaphore.release(1);
  });
  run_all();
  EXPECT_EQ(events, (std::vector<std::string>{"big at 10"}));
  EXPECT_EQ(semaphore.available(), 0);
  EXPECT_FALSE(semaphore.try_acquire());
}

TEST_F(SyncTest, SemaphoreAcquireTimesOut) {
  Semaphore semaphore(scheduler, 0);
  bool acquired = true;
  scheduler.spawn("waiter", [&] {
    acquired = semaphore.acquire_until(clock.now() + milliseconds(8));
  });
  run_all();
  EXPECT_FALSE(acquired);
  EXPECT_EQ(elapsed_ms(), 8);
  EXPECT_EQ(semaphore.available(), 0);
}

TEST_F(SyncTest, MutexExcludesAcrossSuspensions) {
  Mutex mutex(scheduler);
  int inside = 0;
  int max_inside = 0;
  int entries = 0;
  for (int i = 0; i < 4; i++) {
    scheduler.spawn("worker", [&] {
      for (int round = 0; round < 3; round++) {
        MutexGuard guard(mutex);
        inside++;
        max_inside = std::max(max_inside, inside);
        scheduler.yield();
        scheduler.sleep_for(milliseconds(1));
        inside--;
        entries++;
      }
    });
  }
  run_all();
  EXPECT_EQ(max_inside, 1);
  EXPECT_EQ(entries, 12);
  EXPECT_FALSE(mutex.locked());
}

TEST_F(SyncTest, MutexGuardReleasesWhenItsFiberIsCancelled) {
  Mutex mutex(scheduler);
  bool second_got_lock = false;
  const FiberId holder = scheduler.spawn("holder", [&] {
    MutexGuard guard(mutex);
    scheduler.sleep_for(seconds(3600));
  });
  scheduler.spawn("second", [&] {
    MutexGuard guard(mutex);
    second_got_lock = true;
  });
  scheduler.spawn("canceller", [&] {
    scheduler.sleep_for(milliseconds(1));
    scheduler.cancel(holder);
  });
  run_all();
  EXPECT_TRUE(second_got_lock);
  EXPECT_FALSE(mutex.locked());
}

TEST_F(SyncTest, SelectReturnsTheSourceThatBecameReady) {
  Event a(scheduler);
  Event b(scheduler);
  Promise<int> promise(scheduler);
  Future<int> future = promise.future();
  std::optional<size_t> selected;
  int64_t selected_at_ms = 0;
  scheduler.spawn("selector", [&] {
    selected = select_until(scheduler, {&a, &b, &future}, clock.now() + seconds(1));
    selected_at_ms = elapsed_ms();
  });
  scheduler.spawn("setter", [&] {
    scheduler.sleep_for(milliseconds(2));
    promise.set(5);
  });
  run_all();
  EXPECT_EQ(selected, 2u);
  EXPECT_EQ(selected_at_ms, 2);
}

TEST_F(SyncTest, SelectPrefersTheFirstReadySource) {
  Event a(scheduler);
  Event b(scheduler);
  a.set();
  b.set();
  std::optional<size_t> selected;
  scheduler.spawn("selector", [&] { selected = select_until(scheduler, {&b, &a}, std::nullopt); });
  run_all();
  EXPECT_EQ(selected, 0u);
}

TEST_F(SyncTest, SelectTimesOutAtTheDeadline) {
  Event a(scheduler);
  Channel<int> channel(scheduler, 1);
  std::optional<size_t> selected = 99;
  scheduler.spawn("selector", [&] {
    selected = select_until(scheduler, {&a, &channel}, clock.now() + milliseconds(15));
  });
  run_all();
  EXPECT_EQ(selected, std::nullopt);
  EXPECT_EQ(elapsed_ms(), 15);
}

}  // namespace
}  // namespace weir::runtime::testing
