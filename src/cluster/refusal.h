// The answer to a controller request that was not decided, or whose outcome is not
// known: every entry the request names, with one error code (NOT_CONTROLLER when the
// request should go to another controller, REQUEST_TIMED_OUT when its change may or
// may not take effect). Shared by the controller and by brokers forwarding to it.
#pragma once

#include "protocol/errors.h"
#include "protocol/messages/api.h"

namespace weir::cluster {

// `request` is one of the apis QuorumController::serves_api accepts.
protocol::ResponseBody refuse(const protocol::RequestBody& request, protocol::ErrorCode code);

}  // namespace weir::cluster
