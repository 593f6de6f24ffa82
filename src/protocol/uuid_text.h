// The one text form of a Uuid: Kafka's URL-safe base64 without padding (22
// characters), as its tools print topic and cluster ids. Everything in weir that shows
// or reads a Uuid as text (logs, partition.metadata, meta.properties, the CLI) uses it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "protocol/wire.h"

namespace weir::protocol {

std::string uuid_to_string(const Uuid& uuid);
// Nothing unless `text` is exactly 22 characters of the alphabet.
std::optional<Uuid> uuid_from_string(std::string_view text);

}  // namespace weir::protocol
