// The errors of a call to a Kafka node over an rpc::Connection, shared by every caller:
// weir's own client (producer, consumer, admin), the broker's link to the controllers,
// Raft peers. Kafka error codes from responses are carried as they came (the protocol
// edge); everything the caller itself detects has its own kind.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "base/result.h"
#include "protocol/errors.h"

namespace weir::rpc {

enum class ErrorKind : uint8_t {
  kafka,               // the broker answered with a Kafka error code (see `code`)
  connect_failed,      // no connection could be made to the broker
  disconnected,        // the connection closed or reset with the request pending
  timed_out,           // the request, delivery or metadata wait passed its deadline
  malformed_response,  // the broker's bytes did not decode; the connection is closed
  unsupported,         // the broker serves no version of an api the client needs
  invalid_argument,    // the caller asked for something impossible (unknown topic...)
  closed,              // the producer or consumer was closed
};

struct Error {
  ErrorKind kind = ErrorKind::kafka;
  protocol::ErrorCode code = protocol::ErrorCode::none;
  std::string message;

  static Error kafka(int16_t code, std::string message = {}) {
    return Error{ErrorKind::kafka, static_cast<protocol::ErrorCode>(code), std::move(message)};
  }
  static Error of(ErrorKind kind, std::string message = {}) {
    return Error{kind, protocol::ErrorCode::none, std::move(message)};
  }
  // Whether sending again (after a metadata refresh) may succeed.
  bool retriable() const;
  // Whether the partition's leader may have moved, so metadata should be refreshed.
  bool needs_metadata_refresh() const;
  std::string to_string() const;
};

std::string_view error_kind_name(ErrorKind kind);

template <typename T>
using CallResult = weir::Result<T, Error>;

}  // namespace weir::rpc
