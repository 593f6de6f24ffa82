#include "broker/settings.h"

#include <optional>

namespace weir::broker {

Result<BrokerSettings, std::string> BrokerSettings::from(config::BrokerConfig config) {
  BrokerSettings settings;
  std::optional<config::Endpoint> advertised;
  for (const config::Endpoint& endpoint : config.listeners) {
    if (config.is_controller_listener(endpoint.listener_name)) continue;
    // A wildcard host binds every IPv4 interface.
    settings.listeners.push_back(runtime::Address{
        config::is_wildcard_host(endpoint.host) ? "0.0.0.0" : endpoint.host, endpoint.port});
    if (!advertised) {
      advertised = config.advertised_listener(endpoint.listener_name);
      settings.listener_name = endpoint.listener_name;
    }
  }
  if (settings.listeners.empty()) {
    return unexpected(
        std::string("listeners: no broker listener (every listener is a controller listener)"));
  }
  if (advertised) {
    // A wildcard advertises the loopback address: weir reads no host names from the OS.
    settings.advertised_host =
        config::is_wildcard_host(advertised->host) ? "127.0.0.1" : advertised->host;
    settings.advertised_port = advertised->port;
  }
  settings.config = std::move(config);
  return settings;
}

}  // namespace weir::broker
