#include "runtime/real/errno.h"

#include <cerrno>
#include <cstring>

#include "base/assert.h"

namespace weir::runtime::real {

IoError io_error_from_errno(int error_number) {
  VERIFY(error_number != EBADF, "a closed or invalid descriptor was used");
  VERIFY(error_number != EFAULT, "a bad buffer was passed to the kernel");
  switch (error_number) {
    case ENOENT:
    case ENOTDIR:
      return IoError::not_found;
    case EEXIST:
    case ENOTEMPTY:
      return IoError::exists;
    case ENOSPC:
    case EDQUOT:
      return IoError::no_space;
    case EINVAL:
    case ENAMETOOLONG:
    case EISDIR:
    case ELOOP:
      return IoError::invalid;
    case ECONNREFUSED:
      return IoError::refused;
    case ETIMEDOUT:
      return IoError::timed_out;
    case EADDRINUSE:
    case EADDRNOTAVAIL:
      return IoError::address_in_use;
    case ECONNRESET:
    case ECONNABORTED:
    case EPIPE:
    case ENOTCONN:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ENETDOWN:
      return IoError::reset;
    case EMFILE:
    case ENFILE: return IoError::too_many_open_files;
    default:
      // EIO, EACCES, ENOMEM, ...: the operation failed for a reason the caller
      // can only treat as a failed device or environment.
      return IoError::io;
  }
}

}  // namespace weir::runtime::real
