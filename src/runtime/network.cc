#include "runtime/network.h"

namespace weir::runtime {

IoResult<void> Stream::read_exactly(std::span<std::byte> buffer) {
  size_t done = 0;
  while (done < buffer.size()) {
    auto got = read_some(buffer.subspan(done));
    if (!got) return unexpected(got.error());
    if (*got == 0) return unexpected(IoError::reset);
    done += *got;
  }
  return {};
}

}  // namespace weir::runtime
