// The client's operating errors: those of rpc (src/rpc/errors.h), which every call to a
// Kafka node shares, under the client's names.
#pragma once

#include "rpc/errors.h"

namespace weir::client {

using rpc::Error;
using rpc::error_kind_name;
using rpc::ErrorKind;

template <typename T>
using ClientResult = rpc::CallResult<T>;

}  // namespace weir::client
