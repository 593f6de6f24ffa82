// RealRuntime: run(), failure and deadlock reporting, real sleeping, fairness between
// busy fibers and I/O, termination signals, and the text-file helpers for mains.
#include "runtime/real/runtime.h"

#include <signal.h>

#include <memory>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "runtime/real/files.h"
#include "tests/runtime/temp_directory.h"

namespace weir::runtime::real {
namespace {

using testing::TempDirectory;

class RealRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto created = RealRuntime::create(directory.path());
    ASSERT_TRUE(created.ok());
    runtime = std::move(created).value();
  }
  TempDirectory directory;
  std::unique_ptr<RealRuntime> runtime;
};

TEST_F(RealRuntimeTest, RunReturnsWhenMainReturnsAndEnvIsUsable) {
  int value = 0;
  runtime->run([&] {
    Env env = runtime->env();
    env.scheduler.spawn("helper", [&] { value += 1; });
    env.scheduler.yield();
    value += 10;
    EXPECT_FALSE(env.buggify.fire()) << "production never buggifies";
    EXPECT_GT(env.clock.wall_now().milliseconds, 1'600'000'000'000) << "after 2020";
  });
  EXPECT_EQ(value, 11);
}

TEST_F(RealRuntimeTest, SleepLastsAtLeastItsDuration) {
  runtime->run([&] {
    const Instant before = runtime->clock().now();
    runtime->scheduler().sleep_for(milliseconds(20));
    EXPECT_GE(runtime->clock().now() - before, milliseconds(20));
  });
}

TEST_F(RealRuntimeTest, FailureOfAnyFiberIsRethrownFromRun) {
  EXPECT_THROW(runtime->run([&] {
    runtime->scheduler().spawn("bad", [] { throw std::runtime_error("bad fiber"); });
    runtime->scheduler().sleep_for(seconds(3600));
  }),
               std::runtime_error);
}

TEST_F(RealRuntimeTest, MainWaitingForeverIsReportedAsDeadlock) {
  try {
    runtime->run([&] {
      Event never(runtime->scheduler());
      never.wait();
    });
    FAIL() << "run() returned although main never finished";
  } catch (const AssertionFailure& failure) {
    EXPECT_NE(std::string(failure.what()).find("deadlock"), std::string::npos);
  }
}

TEST_F(RealRuntimeTest, BusyFibersDoNotStarveTimersOrIo) {
  runtime->run([&] {
    Scheduler& scheduler = runtime->scheduler();
    bool stop = false;
    scheduler.spawn("spinner", [&] {
      while (!stop) scheduler.yield();
    });
    // Both waits need the reactor while the spinner is always runnable.
    auto listener = runtime->network().listen(Address{"127.0.0.1", 0});
    ASSERT_TRUE(listener.ok());
    Event accepted(scheduler);
    scheduler.spawn("acceptor", [&] {
      EXPECT_TRUE((*listener)->accept().ok());
      accepted.set();
    });
    auto client = runtime->network().connect((*listener)->local_address(), seconds(5));
    ASSERT_TRUE(client.ok());
    accepted.wait();
    scheduler.sleep_for(milliseconds(5));
    stop = true;
  });
}

TEST_F(RealRuntimeTest, TerminationSignalSetsTheEvent) {
  Event& terminate = runtime->termination_requested();
  EXPECT_FALSE(terminate.is_set());
  runtime->run([&] {
    runtime->scheduler().spawn("signaller", [] { ASSERT_EQ(::raise(SIGTERM), 0); });
    terminate.wait();  // a clean shutdown would start here
  });
  EXPECT_EQ(runtime->termination_signal(), SIGTERM);
  EXPECT_EQ(&runtime->termination_requested(), &terminate) << "idempotent";
}

TEST_F(RealRuntimeTest, InterruptSignalAlsoRequestsTermination) {
  runtime->run([&] {
    Event& terminate = runtime->termination_requested();
    ASSERT_EQ(::raise(SIGINT), 0);
    EXPECT_TRUE(terminate.wait_until(runtime->clock().now() + seconds(30)));
  });
  EXPECT_EQ(runtime->termination_signal(), SIGINT);
}

TEST_F(RealRuntimeTest, SeedsDifferBetweenRuntimes) {
  // Two OS seeds colliding has probability 2^-64.
  EXPECT_NE(os_random_seed(), os_random_seed());
}

TEST(RealFilesTest, WriteThenReadTextFile) {
  TempDirectory directory;
  const std::string path = directory.path() + "/config.properties";
  ASSERT_TRUE(write_text_file(path, "broker.id=1\n").ok());
  ASSERT_TRUE(write_text_file(path, "broker.id=2\n").ok()) << "replaces";
  auto text = read_text_file(path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "broker.id=2\n");
  auto missing = read_text_file(directory.path() + "/missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(), IoError::not_found);
  EXPECT_EQ(write_text_file(directory.path() + "/no/such/dir/x", "x").error(),
            IoError::not_found);
}

}  // namespace
}  // namespace weir::runtime::real
