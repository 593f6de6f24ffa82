// Small blocking helpers for command-line mains (weir, weir-sim): reading a config or
// seed file, writing a report, printing to stderr. They run before or outside the
// runtime, so they block, and only mains may call them (node code uses Env::disk).
#pragma once

#include <string>
#include <string_view>

#include "runtime/io_error.h"

namespace weir::runtime::real {

IoResult<std::string> read_text_file(const std::string& path);
// Replaces `path` atomically: writes a temporary sibling, fsyncs it, renames it over
// `path` and fsyncs the directory, so a crash leaves either the old or the new text.
IoResult<void> write_text_file(const std::string& path, std::string_view text);
// Writes all of `text` to file descriptor 2, unbuffered.
void print_stderr(std::string_view text);

}  // namespace weir::runtime::real
