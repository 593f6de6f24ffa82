// Always-on assertions. A failed VERIFY is a programmer error: the invariant it
// states does not hold, so nothing the process does afterwards can be trusted.
//
// VERIFY throws AssertionFailure rather than aborting in place so that the fiber
// scheduler sees it: the real runtime reports it and aborts the process, while the
// simulator records the verdict "crash" together with the seed that replays it.
// Nothing may catch AssertionFailure except those two places.
#pragma once

#include "base/source_location.h"
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace weir {

class AssertionFailure : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

[[noreturn]] void verify_failed(const char* condition, const std::string& message,
                                ::weir::SourceLocation where);

}  // namespace weir

#define VERIFY(cond, ...)                                                            \
  do {                                                                               \
    if (!(cond)) [[unlikely]] {                                                      \
      ::weir::verify_failed(#cond, ::fmt::format("" __VA_ARGS__),                    \
                            ::weir::SourceLocation::current());                        \
    }                                                                                \
  } while (false)

#define UNREACHABLE(...) ::weir::verify_failed("unreachable", ::fmt::format("" __VA_ARGS__), \
                                               ::weir::SourceLocation::current())
