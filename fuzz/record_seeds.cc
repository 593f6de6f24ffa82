// Writes seed inputs for the record_batch fuzzer that the golden captures lack:
// batches weir encodes with every codec, transactional and idempotent headers, a
// control batch with a commit marker, an empty batch, and two batches back to back.
//
//   record_seeds <out-dir>
#include <cstdio>
#include <string>
#include <vector>

#include "record/batch.h"

namespace {

using weir::record::Bytes;

void write(const std::string& path, const Bytes& bytes) {
  FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return;
  std::fwrite(bytes.data(), 1, bytes.size(), file);
  std::fclose(file);
}

std::vector<weir::record::Record> records(int count) {
  std::vector<weir::record::Record> out;
  for (int i = 0; i < count; i++) {
    auto& record = out.emplace_back();
    record.offset_delta = i;
    record.timestamp_delta = i * 3;
    record.key = Bytes{'k', static_cast<uint8_t>('0' + i % 10)};
    if (i % 4 != 3) {
      record.value = Bytes(static_cast<size_t>(20 + i), static_cast<uint8_t>('a' + i));
    }
    if (i % 2 == 0) record.headers.push_back({"h", Bytes{'v'}});
    if (i % 5 == 0) record.headers.push_back({"null", std::nullopt});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string dir = argv[1];
  using weir::record::Compression;
  for (Compression codec : {Compression::none, Compression::gzip, Compression::snappy,
                            Compression::lz4, Compression::zstd}) {
    weir::record::BatchOptions options;
    options.compression = codec;
    options.producer_id = weir::record::ProducerId(7);
    options.producer_epoch = weir::record::ProducerEpoch(1);
    options.base_sequence = weir::record::Sequence(100);
    options.transactional = codec == Compression::zstd;
    write(dir + "/weir-" + std::string(weir::record::compression_name(codec)) + ".batch",
          weir::record::encode_batch(options, records(12)));
  }
  weir::record::BatchOptions control;
  control.control = true;
  control.transactional = true;
  const auto marker = weir::record::make_end_txn_marker({weir::record::ControlType::commit, 5});
  write(dir + "/weir-control.batch",
        weir::record::encode_batch(control, std::span(&marker, 1)));
  write(dir + "/weir-empty.batch", weir::record::encode_batch({}, {}));
  Bytes two;
  weir::record::append_batch({}, records(3), two);
  weir::record::BatchOptions second;
  second.base_offset = weir::record::Offset(3);
  weir::record::append_batch(second, records(2), two);
  write(dir + "/weir-two.batch", two);
  return 0;
}
