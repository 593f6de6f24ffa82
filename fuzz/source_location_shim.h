// Fuzz builds only (fuzz/ci.sh passes -include): clang 14 with libstdc++ 12 lacks
// __builtin_source_location, so <source_location> declares nothing and
// base/assert.h does not compile. This gives std::source_location from the older
// builtins clang 14 has. Remove once the toolchain is clang >= 15 or libc++.
#pragma once

#include <version>

#if defined(__clang__) && !__has_builtin(__builtin_source_location)
#include <source_location>  // so that a later include finds its guard set

namespace std {  // NOLINT: a shim for a missing standard type

struct source_location {
  static constexpr source_location current(const char* file = __builtin_FILE(),
                                           const char* function = __builtin_FUNCTION(),
                                           unsigned line = __builtin_LINE(),
                                           unsigned column = __builtin_COLUMN()) noexcept {
    source_location location;
    location.file_ = file;
    location.function_ = function;
    location.line_ = line;
    location.column_ = column;
    return location;
  }
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr const char* function_name() const noexcept { return function_; }
  constexpr unsigned line() const noexcept { return line_; }
  constexpr unsigned column() const noexcept { return column_; }

 private:
  const char* file_ = "";
  const char* function_ = "";
  unsigned line_ = 0;
  unsigned column_ = 0;
};

}  // namespace std
#endif
