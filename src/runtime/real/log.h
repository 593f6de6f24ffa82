// StderrLog: the real backend's runtime::Log. Each line goes to file descriptor 2 in one
// unbuffered write, prefixed "weir: ", so lines of one process never interleave and
// survive a crash that follows them.
#pragma once

#include <string_view>

#include "runtime/log.h"

namespace weir::runtime::real {

class StderrLog final : public Log {
 public:
  void write(std::string_view line) override;
};

}  // namespace weir::runtime::real
