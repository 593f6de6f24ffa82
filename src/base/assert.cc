#include "base/assert.h"

namespace weir {

void verify_failed(const char* condition, const std::string& message,
                   ::weir::SourceLocation where) {
  throw AssertionFailure(fmt::format("{}:{}: VERIFY({}) failed{}{}", where.file_name(),
                                     where.line(), condition, message.empty() ? "" : ": ",
                                     message));
}

}  // namespace weir
