// The loopback ceiling for `weir perf`: the same total bytes, in the same frame sizes,
// pushed through one loopback TCP connection into a sink that reads and discards. No
// protocol, no batching, no disk: whatever weir reaches is read against this figure.
//
//   tcp_ceiling --bytes N --frame-bytes F
//
// prints one JSON line: {"bytes": N, "frames": K, "seconds": S, "mb_per_sec": M}.
// A benchmark tool, so it uses sockets and threads directly (bench/ is outside the
// runtime seam).
#include <arpa/inet.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  long long total_bytes = 0;
  long long frame_bytes = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    if (name == "--bytes") total_bytes = std::atoll(argv[i + 1]);
    if (name == "--frame-bytes") frame_bytes = std::atoll(argv[i + 1]);
  }
  if (total_bytes <= 0 || frame_bytes <= 4) {
    std::fprintf(stderr, "usage: tcp_ceiling --bytes N --frame-bytes F (F > 4)\n");
    return 2;
  }
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listener < 0) die("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) die("bind");
  if (::listen(listener, 1) != 0) die("listen");
  socklen_t length = sizeof address;
  if (::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    die("getsockname");
  }

  long long received = 0;
  std::thread sink([&] {
    const int connection = ::accept(listener, nullptr, nullptr);
    if (connection < 0) die("accept");
    std::vector<char> buffer(1 << 20);
    while (true) {
      const ssize_t n = ::read(connection, buffer.data(), buffer.size());
      if (n < 0) die("read");
      if (n == 0) break;
      received += n;
    }
    ::close(connection);
  });

  const int sender = ::socket(AF_INET, SOCK_STREAM, 0);
  if (sender < 0) die("socket");
  const int one = 1;
  ::setsockopt(sender, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const auto start = std::chrono::steady_clock::now();
  if (::connect(sender, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    die("connect");
  }
  // Kafka framing: a 4-byte big-endian size, then the frame.
  std::vector<char> frame(static_cast<size_t>(frame_bytes), 'x');
  const uint32_t size = htonl(static_cast<uint32_t>(frame_bytes - 4));
  std::memcpy(frame.data(), &size, 4);
  long long sent = 0;
  long long frames = 0;
  while (sent < total_bytes) {
    const size_t want = static_cast<size_t>(std::min(frame_bytes, total_bytes - sent));
    size_t done = 0;
    while (done < want) {
      const ssize_t n = ::write(sender, frame.data() + done, want - done);
      if (n < 0) die("write");
      done += static_cast<size_t>(n);
    }
    sent += static_cast<long long>(want);
    frames++;
  }
  ::shutdown(sender, SHUT_WR);
  sink.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ::close(sender);
  ::close(listener);
  if (received != total_bytes) {
    std::fprintf(stderr, "received %lld of %lld bytes\n", received, total_bytes);
    return 1;
  }
  std::printf("{\"bytes\": %lld, \"frames\": %lld, \"seconds\": %.4f, \"mb_per_sec\": %.1f}\n",
              total_bytes, frames, seconds, static_cast<double>(total_bytes) / seconds / 1e6);
  return 0;
}
