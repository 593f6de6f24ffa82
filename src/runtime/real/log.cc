#include "runtime/real/log.h"

#include <fmt/format.h>

#include "runtime/real/files.h"

namespace weir::runtime::real {

void StderrLog::write(std::string_view line) { print_stderr(fmt::format("weir: {}\n", line)); }

}  // namespace weir::runtime::real
