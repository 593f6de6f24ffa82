// The `weir server` command: one weir node on the real runtime (sockets, files,
// signals), configured by Kafka's server.properties keys. See README.md.
#pragma once

#include <span>
#include <string_view>

namespace weir::server {

// `weir server [-c|--config server.properties] [--override key=value]...`
// Runs until SIGTERM or SIGINT, then flushes and closes every log. With no config it
// runs the embedded one-node cluster on 127.0.0.1:9092 with data under ./data.
// Returns the process's exit code (2 for bad arguments or config, naming the key).
int server_main(std::span<const std::string_view> args);

}  // namespace weir::server
