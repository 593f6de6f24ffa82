// BrokerSettings: the node's config (Kafka's server.properties keys, src/config) and
// what the broker derives from it. The server builds it from the parsed config; the
// simulator from BrokerConfig::embedded_default() with its own listeners.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/broker_config.h"
#include "runtime/network.h"

namespace weir::broker {

struct BrokerSettings {
  config::BrokerConfig config;
  // The broker listeners to bind (controller listeners are left out).
  std::vector<runtime::Address> listeners;
  // What Metadata tells clients: the first broker listener's advertised endpoint. A
  // port of 0 means "the port the first listener was bound to" (servers started on
  // port 0 by tests).
  std::string listener_name = "PLAINTEXT";
  std::string advertised_host = "127.0.0.1";
  int32_t advertised_port = 0;

  // Derives the listeners and advertised endpoint; the error names the key.
  static Result<BrokerSettings, std::string> from(config::BrokerConfig config);
};

}  // namespace weir::broker
