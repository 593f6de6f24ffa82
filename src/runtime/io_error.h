// Operating errors of the network and the disk. Each is one a caller can react to.
#pragma once

#include <string_view>

#include "base/result.h"

namespace weir::runtime {

enum class IoError {
  closed,          // the stream was closed by this side
  reset,           // the peer reset or vanished; the connection is dead
  timed_out,       // connect or an operation with a deadline did not finish in time
  refused,         // nobody listens at the address
  address_in_use,  // listen on a taken address
  not_found,       // no such file or directory
  exists,          // exclusive create of an existing file
  no_space,        // ENOSPC
  io,              // EIO: the device failed this operation (including fsync)
  invalid,         // a malformed path or argument
  // EMFILE or ENFILE: the process (or the system) is out of file descriptors. Nothing
  // was opened; the same call may succeed once descriptors are closed, so a caller
  // retries later (with a pause: retrying at once only spins).
  too_many_open_files,
};

std::string_view to_string(IoError error);

template <typename T>
using IoResult = Result<T, IoError>;

}  // namespace weir::runtime
