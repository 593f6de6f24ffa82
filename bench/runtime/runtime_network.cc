// Loopback echo throughput through RealNetwork: a client writes a chunk from one fiber
// while another reads the echo back, through the epoll reactor and an echo server on
// the same loop thread. Bytes per second count one direction (the payload once).
#include <stdlib.h>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "runtime/real/runtime.h"

namespace weir::runtime::real {
namespace {

void loopback_echo(benchmark::State& state) {
  const size_t chunk_bytes = static_cast<size_t>(state.range(0));
  std::string root = (std::filesystem::temp_directory_path() / "weir-bench-XXXXXX").string();
  if (mkdtemp(root.data()) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  auto created = RealRuntime::create(root);
  if (!created) {
    state.SkipWithError("cannot create the runtime");
    return;
  }
  RealRuntime& runtime = **created;
  runtime.run([&] {
    Scheduler& scheduler = runtime.scheduler();
    auto listener = runtime.network().listen(Address{"127.0.0.1", 0});
    auto client = runtime.network().connect((*listener)->local_address(), seconds(5));
    auto server = (*listener)->accept();
    if (!client || !server) {
      state.SkipWithError("cannot connect over loopback");
      return;
    }
    std::shared_ptr<Stream> server_stream = std::move(server).value();
    scheduler.spawn("echo", [server_stream] {
      std::vector<std::byte> buffer(256 * 1024);
      while (true) {
        auto got = server_stream->read_some(buffer);
        if (!got || *got == 0) return;
        if (!server_stream->write_all(std::span(buffer).first(*got))) return;
      }
    });
    Stream& stream = **client;
    const std::vector<std::byte> chunk(chunk_bytes, std::byte{0x5a});
    std::vector<std::byte> echoed(chunk_bytes);
    // A long-lived writer, told per iteration to write one chunk, so the loop measures
    // the network path and not fiber spawns.
    Channel<int> go(scheduler, 1);
    scheduler.spawn("writer", [&] {
      while (go.receive()) {
        if (!stream.write_all(chunk)) state.SkipWithError("write failed");
      }
    });
    for (auto _ : state) {
      go.send(1);
      if (!stream.read_exactly(echoed)) state.SkipWithError("read failed");
    }
    go.close();
    scheduler.yield();  // let the writer see the close and finish
    stream.close();
    server_stream->close();
  });
  created->reset();
  std::error_code ignored;
  std::filesystem::remove_all(root, ignored);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(chunk_bytes));
}
BENCHMARK(loopback_echo)->Arg(4 * 1024)->Arg(64 * 1024)->Arg(1024 * 1024);

}  // namespace
}  // namespace weir::runtime::real

BENCHMARK_MAIN();
