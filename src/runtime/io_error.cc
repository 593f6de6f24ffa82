#include "runtime/io_error.h"

namespace weir::runtime {

std::string_view to_string(IoError error) {
  switch (error) {
    case IoError::closed: return "closed";
    case IoError::reset: return "connection reset";
    case IoError::timed_out: return "timed out";
    case IoError::refused: return "connection refused";
    case IoError::address_in_use: return "address in use";
    case IoError::not_found: return "not found";
    case IoError::exists: return "already exists";
    case IoError::no_space: return "no space left on device";
    case IoError::io: return "I/O error";
    case IoError::invalid: return "invalid argument";
    case IoError::too_many_open_files: return "too many open files";
  }
  return "unknown";
}

}  // namespace weir::runtime
