// Real clients against weir's codec: a one-broker impostor, written with nothing but
// src/protocol and src/record, answers kcat (librdkafka) and kafka-python — every
// response they parse (ApiVersions, Metadata, InitProducerId, Produce) is encoded by
// weir at the version the client chose — and the batches they produce must decode
// to the records they were given. Skipped when a client is not installed.
//
// Test-only I/O: plain blocking POSIX sockets, one thread, poll().
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include "protocol/header.h"
#include "record/batch.h"

extern char** environ;

namespace weir::protocol {
namespace {

constexpr int kRecords = 10;

std::string value_of(int i) { return "golden-" + std::to_string(i) + std::string(100, '.'); }

bool executable_exists(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

std::string find_kcat() {
  for (const char* path : {"/usr/bin/kcat", "/usr/local/bin/kcat"}) {
    if (executable_exists(path)) return path;
  }
  return "";
}

class Impostor {
 public:
  Impostor() {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_GE(listener_, 0);
    const int one = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(listen(listener_, 16), 0);
    socklen_t length = sizeof(address);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~Impostor() {
    for (auto& [fd, buffer] : connections_) close(fd);
    close(listener_);
  }

  int port() const { return port_; }
  // The partition's log for consumers: batches back to back from offset 0.
  void set_log(Bytes log, int64_t end_offset) {
    log_ = std::move(log);
    log_end_offset_ = end_offset;
  }
  const std::vector<record::Record>& records() const { return records_; }
  const std::map<std::string, int>& requests_seen() const { return seen_; }
  std::vector<std::string> compressions;

  // Serves until `child` exits (returning its exit status) or 30 s pass (-1).
  int serve_until_exit(pid_t child) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(child, &status, WNOHANG) == child) {
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
      }
      std::vector<pollfd> fds{{listener_, POLLIN, 0}};
      for (auto& [fd, buffer] : connections_) fds.push_back({fd, POLLIN, 0});
      if (poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        const int fd = accept(listener_, nullptr, nullptr);
        if (fd >= 0) connections_[fd] = {};
      }
      for (size_t i = 1; i < fds.size(); i++) {
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) read_from(fds[i].fd);
      }
    }
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    return -1;
  }

 private:
  void read_from(int fd) {
    uint8_t chunk[65536];
    const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      close(fd);
      connections_.erase(fd);
      return;
    }
    Bytes& buffer = connections_[fd];
    buffer.insert(buffer.end(), chunk, chunk + n);
    while (buffer.size() >= 4) {
      const uint32_t size = (uint32_t{buffer[0]} << 24) | (uint32_t{buffer[1]} << 16) |
                            (uint32_t{buffer[2]} << 8) | buffer[3];
      if (buffer.size() < 4 + size) break;
      const Bytes frame(buffer.begin() + 4, buffer.begin() + 4 + size);
      buffer.erase(buffer.begin(), buffer.begin() + 4 + size);
      handle(fd, frame);
    }
  }

  void send_frame(int fd, const Bytes& payload) {
    Bytes out(4);
    const auto size = static_cast<uint32_t>(payload.size());
    out[0] = static_cast<uint8_t>(size >> 24);
    out[1] = static_cast<uint8_t>(size >> 16);
    out[2] = static_cast<uint8_t>(size >> 8);
    out[3] = static_cast<uint8_t>(size);
    out.insert(out.end(), payload.begin(), payload.end());
    size_t sent = 0;
    while (sent < out.size()) {
      const ssize_t n = send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

  void handle(int fd, const Bytes& frame) {
    auto request = decode_request(frame);
    ASSERT_TRUE(request.ok()) << decode_error_name(request.error());
    const RequestHeader& header = request->header;
    const ApiInfo* api = find_api(header.api_key);
    ASSERT_NE(api, nullptr);
    seen_[std::string(api->name) + " v" + std::to_string(header.api_version)]++;
    Bytes out;
    if (std::holds_alternative<ApiVersionsRequest>(request->body)) {
      ApiVersionsResponse response;
      for (const ApiInfo& info : supported_apis()) {
        response.api_keys.push_back({.api_key = static_cast<int16_t>(info.key),
                                     .min_version = info.advertised_version_min,
                                     .max_version = info.version_max,
                                     .unknown_tagged_fields = {}});
      }
      encode_response(header.correlation_id, header.api_version, ResponseBody(response), out);
    } else if (const auto* metadata = std::get_if<MetadataRequest>(&request->body)) {
      MetadataResponse response;
      response.brokers.push_back({.node_id = 0, .host = "127.0.0.1", .port = port_,
                                  .rack = std::nullopt, .unknown_tagged_fields = {}});
      response.cluster_id = "weir-interop";
      response.controller_id = 0;
      std::vector<std::string> names;
      if (metadata->topics && !metadata->topics->empty()) {
        for (const auto& topic : *metadata->topics) names.push_back(topic.name.value_or(""));
      } else {
        names.push_back("golden");
      }
      for (const std::string& name : names) {
        auto& topic = response.topics.emplace_back();
        topic.name = name;
        auto& partition = topic.partitions.emplace_back();
        partition.partition_index = 0;
        partition.leader_id = 0;
        partition.leader_epoch = 0;
        partition.replica_nodes = {0};
        partition.isr_nodes = {0};
      }
      encode_response(header.correlation_id, header.api_version, ResponseBody(response), out);
    } else if (std::holds_alternative<InitProducerIdRequest>(request->body)) {
      InitProducerIdResponse response;
      response.producer_id = 4242;
      response.producer_epoch = 0;
      encode_response(header.correlation_id, header.api_version, ResponseBody(response), out);
    } else if (const auto* produce = std::get_if<ProduceRequest>(&request->body)) {
      ProduceResponse response;
      for (const auto& topic : produce->topic_data) {
        auto& topic_response = response.responses.emplace_back();
        topic_response.name = topic.name;
        for (const auto& partition : topic.partition_data) {
          auto& partition_response = topic_response.partition_responses.emplace_back();
          partition_response.index = partition.index;
          partition_response.base_offset = static_cast<int64_t>(records_.size());
          collect(partition.records);
        }
      }
      if (produce->acks == 0) return;
      encode_response(header.correlation_id, header.api_version, ResponseBody(response), out);
    } else if (const auto* list = std::get_if<ListOffsetsRequest>(&request->body)) {
      ListOffsetsResponse response;
      for (const auto& topic : list->topics) {
        auto& topic_response = response.topics.emplace_back();
        topic_response.name = topic.name;
        for (const auto& partition : topic.partitions) {
          auto& partition_response = topic_response.partitions.emplace_back();
          partition_response.partition_index = partition.partition_index;
          // -2 asks for the earliest offset, anything else here for the latest.
          partition_response.offset = partition.timestamp == -2 ? 0 : log_end_offset_;
          partition_response.leader_epoch = 0;
        }
      }
      encode_response(header.correlation_id, header.api_version, ResponseBody(response), out);
    } else if (const auto* epochs = std::get_if<OffsetForLeaderEpochRequest>(&request->body)) {
      OffsetForLeaderEpochResponse response;
      for (const auto& topic : epochs->topics) {
        auto& topic_response = response.topics.emplace_back();
        topic_response.topic = topic.topic;
        for (const auto& partition : topic.partitions) {
          auto& partition_response = topic_response.partitions.emplace_back();
          partition_response.partition = partition.partition;
          partition_response.leader_epoch = 0;
          partition_response.end_offset = log_end_offset_;
        }
      }
      encode_response(header.correlation_id, header.api_version, ResponseBody(response), out);
    } else if (const auto* fetch = std::get_if<FetchRequest>(&request->body)) {
      FetchResponse response;
      for (const auto& topic : fetch->topics) {
        auto& topic_response = response.responses.emplace_back();
        topic_response.topic = topic.topic;
        topic_response.topic_id = topic.topic_id;
        for (const auto& partition : topic.partitions) {
          auto& partition_response = topic_response.partitions.emplace_back();
          partition_response.partition_index = partition.partition;
          partition_response.high_watermark = log_end_offset_;
          partition_response.last_stable_offset = log_end_offset_;
          partition_response.log_start_offset = 0;
          partition_response.aborted_transactions = std::vector<
              fetch_response::AbortedTransaction>{};
          // The whole log from the start; the client skips what it already has.
          if (partition.fetch_offset < log_end_offset_) partition_response.records = log_;
          else partition_response.records = Bytes{};
          fetches_++;
        }
      }
      encode_response(header.correlation_id, header.api_version, ResponseBody(response), out);
    } else {
      FAIL() << "unexpected request " << api->name;
    }
    send_frame(fd, out);
  }

  void collect(const std::optional<Bytes>& field) {
    ASSERT_TRUE(field.has_value());
    auto batches = record::split_batches(*field);
    ASSERT_TRUE(batches.ok()) << record::record_error_name(batches.error());
    for (const auto& batch : batches.value()) {
      compressions.emplace_back(record::compression_name(batch.header.compression()));
      auto records = record::decode_records(batch, 1 << 20);
      ASSERT_TRUE(records.ok());
      records_.insert(records_.end(), records->begin(), records->end());
    }
  }

  int listener_ = -1;
  int port_ = 0;
  std::map<int, Bytes> connections_;
  std::vector<record::Record> records_;
  std::map<std::string, int> seen_;
  Bytes log_;
  int64_t log_end_offset_ = 0;
  int fetches_ = 0;
};

// Runs `arguments` with stderr (and stdout, unless `output` names a file for it)
// going to `log`.
pid_t spawn(const std::vector<std::string>& arguments, const std::string& log,
            const std::string& output = "") {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (output.empty()) {
    posix_spawn_file_actions_adddup2(&actions, 2, 1);
  } else {
    posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
  }
  std::vector<char*> argv;
  for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void expect_golden_records(const Impostor& impostor, bool header_per_record) {
  ASSERT_EQ(impostor.records().size(), static_cast<size_t>(kRecords));
  for (int i = 0; i < kRecords; i++) {
    const record::Record& record = impostor.records()[static_cast<size_t>(i)];
    ASSERT_TRUE(record.key && record.value);
    EXPECT_EQ(std::string(record.key->begin(), record.key->end()), "k" + std::to_string(i));
    EXPECT_EQ(std::string(record.value->begin(), record.value->end()), value_of(i));
    ASSERT_EQ(record.headers.size(), 1u);
    const std::string expected = header_per_record ? "v" + std::to_string(i) : "v";
    ASSERT_TRUE(record.headers[0].value.has_value());
    EXPECT_EQ(std::string(record.headers[0].value->begin(), record.headers[0].value->end()),
              expected);
  }
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("weir-interop-" + std::to_string(getpid()) + "-" + name))
      .string();
}

class KcatInterop : public ::testing::TestWithParam<std::string> {};

TEST_P(KcatInterop, ProducesThroughWeirEncodedResponses) {
  const std::string kcat = find_kcat();
  if (kcat.empty()) GTEST_SKIP() << "kcat is not installed";
  const std::string codec = GetParam();
  const std::string input = temp_path("input");
  {
    std::ofstream out(input);
    for (int i = 0; i < kRecords; i++) out << "k" << i << ":" << value_of(i) << "\n";
  }
  Impostor impostor;
  const std::string log = temp_path("kcat.log");
  std::vector<std::string> arguments = {
      kcat, "-b", "127.0.0.1:" + std::to_string(impostor.port()), "-P", "-t", "golden",
      "-p", "0", "-K:", "-H", "h=v", "-X", "linger.ms=50", "-l", input};
  if (codec == "idempotent") {
    arguments.insert(arguments.end(), {"-z", "lz4", "-X", "enable.idempotence=true"});
  } else {
    arguments.insert(arguments.end(), {"-z", codec});
  }
  const pid_t child = spawn(arguments, log);
  ASSERT_GT(child, 0);
  const int status = impostor.serve_until_exit(child);
  EXPECT_EQ(status, 0) << slurp(log);
  expect_golden_records(impostor, false);
  const std::string expected_codec = codec == "idempotent" ? "lz4" : codec;
  for (const auto& compression : impostor.compressions) EXPECT_EQ(compression, expected_codec);
  if (codec == "idempotent") {
    EXPECT_EQ(impostor.requests_seen().count("InitProducerId v4"), 1u);
  }
  for (const auto& [request, count] : impostor.requests_seen()) {
    std::cout << "  " << codec << ": " << request << " x" << count << "\n";
  }
  std::filesystem::remove(input);
  std::filesystem::remove(log);
}

INSTANTIATE_TEST_SUITE_P(Codecs, KcatInterop,
                         ::testing::Values("none", "gzip", "snappy", "lz4", "zstd",
                                           "idempotent"));

// Ten golden records in two batches (base offsets 0 and 5) that weir's record
// module writes with `codec`.
Bytes golden_log(const std::string& codec) {
  record::BatchOptions options;
  for (record::Compression compression :
       {record::Compression::none, record::Compression::gzip, record::Compression::snappy,
        record::Compression::lz4, record::Compression::zstd}) {
    if (record::compression_name(compression) == codec) options.compression = compression;
  }
  // Two batches of five records, the second at base offset 5.
  Bytes log;
  for (int first : {0, 5}) {
    std::vector<record::Record> records;
    for (int i = first; i < first + 5; i++) {
      record::Record& record = records.emplace_back();
      record.offset_delta = i - first;
      record.timestamp_delta = i;
      const std::string key = "k" + std::to_string(i);
      const std::string value = value_of(i);
      record.key = Bytes(key.begin(), key.end());
      record.value = Bytes(value.begin(), value.end());
      record.headers.push_back({"h", Bytes{'v'}});
    }
    options.base_offset = record::Offset(first);
    options.base_timestamp = 1'700'000'000'000;
    options.partition_leader_epoch = record::LeaderEpoch(0);
    record::append_batch(options, records, log);
  }
  return log;
}

// kcat consumes a log whose batches weir's record module wrote with each codec,
// through Metadata, ListOffsets, OffsetForLeaderEpoch and Fetch responses weir encodes.
class KcatConsumerInterop : public ::testing::TestWithParam<std::string> {};

TEST_P(KcatConsumerInterop, ReadsBatchesWeirWrote) {
  const std::string kcat = find_kcat();
  if (kcat.empty()) GTEST_SKIP() << "kcat is not installed";
  const std::string codec = GetParam();
  const Bytes log = golden_log(codec);
  Impostor impostor;
  impostor.set_log(log, kRecords);
  const std::string output = temp_path("consumed");
  const std::string log_path = temp_path("kcat-consumer.log");
  const pid_t child = spawn({kcat, "-b", "127.0.0.1:" + std::to_string(impostor.port()), "-C",
                             "-t", "golden", "-p", "0", "-o", "beginning", "-e", "-f",
                             "%k:%s:%h\\n"},
                            log_path, output);
  ASSERT_GT(child, 0);
  const int status = impostor.serve_until_exit(child);
  EXPECT_EQ(status, 0) << slurp(log_path);
  std::string expected;
  for (int i = 0; i < kRecords; i++) {
    expected += "k" + std::to_string(i) + ":" + value_of(i) + ":h=v\n";
  }
  EXPECT_EQ(slurp(output), expected) << slurp(log_path);
  for (const auto& [request, count] : impostor.requests_seen()) {
    std::cout << "  " << codec << ": " << request << " x" << count << "\n";
  }
  std::filesystem::remove(output);
  std::filesystem::remove(log_path);
}

INSTANTIATE_TEST_SUITE_P(Codecs, KcatConsumerInterop,
                         ::testing::Values("none", "gzip", "snappy", "lz4", "zstd"));

// kafka-python consumes the same log; it verifies every batch's CRC-32C with its own
// implementation.
class KafkaPythonConsumerInterop : public ::testing::TestWithParam<std::string> {};

TEST_P(KafkaPythonConsumerInterop, ReadsBatchesWeirWrote) {
  const char* script_env = std::getenv("WEIR_KAFKA_PYTHON_CONSUMER");
  if (script_env == nullptr || !executable_exists("/usr/bin/python3") ||
      !std::filesystem::exists("/usr/lib/python3/dist-packages/kafka")) {
    GTEST_SKIP() << "kafka-python (python3-kafka) is not installed";
  }
  Impostor impostor;
  impostor.set_log(golden_log(GetParam()), kRecords);
  const std::string output = temp_path("consumed-python");
  const std::string log_path = temp_path("kafka-python-consumer.log");
  const pid_t child = spawn({"/usr/bin/python3", script_env, std::to_string(impostor.port()),
                             std::to_string(kRecords)},
                            log_path, output);
  ASSERT_GT(child, 0);
  const int status = impostor.serve_until_exit(child);
  EXPECT_EQ(status, 0) << slurp(log_path);
  std::string expected;
  for (int i = 0; i < kRecords; i++) {
    expected += "k" + std::to_string(i) + ":" + value_of(i) + ":h=v\n";
  }
  EXPECT_EQ(slurp(output), expected) << slurp(log_path);
  for (const auto& [request, count] : impostor.requests_seen()) {
    std::cout << "  kafka-python " << GetParam() << ": " << request << " x" << count << "\n";
  }
  std::filesystem::remove(output);
  std::filesystem::remove(log_path);
}

// Debian's kafka-python lacks the snappy, lz4 and zstd modules.
INSTANTIATE_TEST_SUITE_P(Codecs, KafkaPythonConsumerInterop, ::testing::Values("none", "gzip"));

class KafkaPythonInterop : public ::testing::TestWithParam<std::string> {};

TEST_P(KafkaPythonInterop, ProducesThroughWeirEncodedResponses) {
  const char* script_env = std::getenv("WEIR_KAFKA_PYTHON_PRODUCER");
  if (script_env == nullptr || !executable_exists("/usr/bin/python3") ||
      !std::filesystem::exists("/usr/lib/python3/dist-packages/kafka")) {
    GTEST_SKIP() << "kafka-python (python3-kafka) is not installed";
  }
  Impostor impostor;
  const std::string log = temp_path("kafka-python.log");
  const pid_t child = spawn({"/usr/bin/python3", script_env, std::to_string(impostor.port()),
                             GetParam()},
                            log);
  ASSERT_GT(child, 0);
  const int status = impostor.serve_until_exit(child);
  EXPECT_EQ(status, 0) << slurp(log);
  expect_golden_records(impostor, true);
  for (const auto& compression : impostor.compressions) EXPECT_EQ(compression, GetParam());
  std::filesystem::remove(log);
}

INSTANTIATE_TEST_SUITE_P(Codecs, KafkaPythonInterop, ::testing::Values("none", "gzip"));

}  // namespace
}  // namespace weir::protocol
