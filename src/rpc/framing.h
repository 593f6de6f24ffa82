// Kafka's framing, both ends of it (rpc::Server reads requests and writes responses,
// rpc::Connection writes requests and reads responses): every request and response
// is a big-endian int32 size followed by that many bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/big_endian.h"

namespace weir::rpc {

constexpr size_t kFrameSizeBytes = 4;

// The size a frame's first four bytes state (negative when hostile: callers bound it).
inline int32_t frame_size(const uint8_t* size_bytes) {
  return load_big_endian<int32_t>(size_bytes);
}

// Starts a frame in `out` (emptied): room for the size, which finish_frame fills in
// once the message is encoded after it.
inline void begin_frame(std::vector<uint8_t>& out) { out.assign(kFrameSizeBytes, 0); }
inline void finish_frame(std::vector<uint8_t>& out) {
  store_big_endian<uint32_t>(out.data(), static_cast<uint32_t>(out.size() - kFrameSizeBytes));
}

}  // namespace weir::rpc
