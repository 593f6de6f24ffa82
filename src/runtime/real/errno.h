// Translation of errno values into the runtime's IoError. Only the real backend sees
// errno; everything above it sees the small set of errors a caller can react to.
//
// Invariant: an errno that can only mean a bug in weir (EBADF, EFAULT) is not an
// operating error and fails a VERIFY instead of being returned.
#pragma once

#include "runtime/io_error.h"

namespace weir::runtime::real {

IoError io_error_from_errno(int error_number);

}  // namespace weir::runtime::real
