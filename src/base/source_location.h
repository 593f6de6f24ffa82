// Where in the source a call came from: file and line, for assertion messages and
// buggify sites. std::source_location would do, but clang 14 with libstdc++ 12 (our
// sanitizer and fuzz toolchain) does not provide it; the builtins below exist in both
// g++ and clang.
#pragma once

#include <cstdint>

namespace weir {

class SourceLocation {
 public:
  static constexpr SourceLocation current(const char* file = __builtin_FILE(),
                                          uint32_t line = __builtin_LINE()) noexcept {
    SourceLocation location;
    location.file_ = file;
    location.line_ = line;
    return location;
  }
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr uint32_t line() const noexcept { return line_; }

 private:
  const char* file_ = "";
  uint32_t line_ = 0;
};

}  // namespace weir
