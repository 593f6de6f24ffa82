// Golden bytes: requests that real clients (kcat/librdkafka 2.0.2, kafka-python
// 2.0.2) sent to tests/data/capture.py, recorded by tests/data/record.sh. Each must
// decode, re-encode to the same bytes, and every Produce request's batches must pass
// validation and hold the records the client was given, whatever the codec.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "protocol/header.h"
#include "record/batch.h"

namespace weir::protocol {
namespace {

std::filesystem::path golden_dir() {
  // meson passes the source directory's tests/data/golden as the environment.
  const char* dir = std::getenv("WEIR_GOLDEN_DIR");  // tests may read the environment
  return dir != nullptr ? dir : "tests/data/golden";
}

std::vector<std::filesystem::path> golden_files() {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(golden_dir())) {
    if (entry.path().extension() == ".bin") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

Bytes read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string expected_value(int i) { return "golden-" + std::to_string(i) + std::string(100, '.'); }

// The codec a file's name promises; the idempotent run uses lz4.
std::string expected_codec(const std::string& name) {
  for (const char* codec : {"gzip", "snappy", "lz4", "zstd", "none"}) {
    if (name.find(std::string("-") + codec + "-") != std::string::npos) return codec;
  }
  return "lz4";
}

void check_produce(const std::filesystem::path& path, const ProduceRequest& produce) {
  const std::string name = path.filename().string();
  ASSERT_EQ(produce.topic_data.size(), 1u) << name;
  EXPECT_EQ(produce.topic_data[0].name, "golden");
  ASSERT_EQ(produce.topic_data[0].partition_data.size(), 1u) << name;
  const auto& partition = produce.topic_data[0].partition_data[0];
  EXPECT_EQ(partition.index, 0);
  ASSERT_TRUE(partition.records.has_value()) << name;

  auto batches = record::split_batches(*partition.records);
  ASSERT_TRUE(batches.ok()) << name << ": " << record::record_error_name(batches.error());
  int next = 0;
  const bool kafka_python = name.starts_with("kafka-python");
  for (const record::BatchView& batch : batches.value()) {
    EXPECT_EQ(record::compression_name(batch.header.compression()), expected_codec(name))
        << name;
    if (name.find("-idempotent-") != std::string::npos) {
      EXPECT_EQ(batch.header.producer_id, record::ProducerId(4242)) << name;
      EXPECT_EQ(batch.header.producer_epoch, record::ProducerEpoch(0)) << name;
      EXPECT_EQ(batch.header.base_sequence, record::Sequence(next)) << name;
    }
    record::Bytes scratch;
    const record::Status valid = record::validate_records(batch, 1 << 20, scratch);
    EXPECT_TRUE(valid.ok()) << name;
    auto records = record::decode_records(batch, 1 << 20);
    ASSERT_TRUE(records.ok()) << name;
    for (const record::Record& record : records.value()) {
      const std::string key = "k" + std::to_string(next);
      const std::string value = expected_value(next);
      ASSERT_TRUE(record.key.has_value());
      ASSERT_TRUE(record.value.has_value());
      EXPECT_EQ(std::string(record.key->begin(), record.key->end()), key) << name;
      EXPECT_EQ(std::string(record.value->begin(), record.value->end()), value) << name;
      ASSERT_EQ(record.headers.size(), 1u) << name;
      EXPECT_EQ(record.headers[0].key, "h");
      const std::string header_value = kafka_python ? "v" + std::to_string(next) : "v";
      ASSERT_TRUE(record.headers[0].value.has_value());
      EXPECT_EQ(std::string(record.headers[0].value->begin(), record.headers[0].value->end()),
                header_value)
          << name;
      next++;
    }
  }
  EXPECT_EQ(next, 10) << name;
}

TEST(Golden, EveryCapturedRequestDecodesAndReencodes) {
  const auto files = golden_files();
  ASSERT_GE(files.size(), 20u) << "golden files in " << golden_dir();
  int produce_requests = 0;
  for (const auto& path : files) {
    const Bytes frame = read_file(path);
    auto request = decode_request(frame);
    ASSERT_TRUE(request.ok()) << path << ": " << decode_error_name(request.error());
    Bytes again;
    encode_request(request->header, request->body, again);
    EXPECT_EQ(again, frame) << path;
    if (const auto* produce = std::get_if<ProduceRequest>(&request->body)) {
      check_produce(path, *produce);
      produce_requests++;
    }
  }
  EXPECT_EQ(produce_requests, 8);
}

TEST(Golden, ClientsIdentifyThemselves) {
  for (const auto& path : golden_files()) {
    auto request = decode_request(read_file(path));
    ASSERT_TRUE(request.ok());
    const std::string name = path.filename().string();
    ASSERT_TRUE(request->header.client_id.has_value());
    if (name.starts_with("kcat")) {
      EXPECT_EQ(*request->header.client_id, "rdkafka") << name;
    }
    if (const auto* versions = std::get_if<ApiVersionsRequest>(&request->body)) {
      if (request->header.api_version >= 3) {
        EXPECT_EQ(versions->client_software_name, "librdkafka") << name;
      }
    }
  }
}

}  // namespace
}  // namespace weir::protocol
