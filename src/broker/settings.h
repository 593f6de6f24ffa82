// BrokerSettings: what the broker needs to know about its node and defaults. The server
// builds it from Kafka's server.properties keys (src/config); the simulator builds it
// directly. Names in comments are the Kafka keys each field comes from.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/network.h"
#include "storage/config.h"

namespace weir::broker {

struct BrokerSettings {
  int32_t node_id = 1;                     // node.id
  std::vector<runtime::Address> listeners; // listeners (the client-facing ones)
  // advertised.listeners: what Metadata tells clients; a port of 0 means "the port
  // the first listener was bound to" (for servers started on port 0 by tests).
  std::string advertised_host = "127.0.0.1";
  int32_t advertised_port = 0;
  std::string rack;                        // broker.rack ("" = none)
  int32_t num_partitions = 1;              // num.partitions
  int16_t default_replication_factor = 1;  // default.replication.factor
  bool auto_create_topics = true;          // auto.create.topics.enable
  bool delete_topic_enable = true;         // delete.topic.enable
  int32_t socket_request_max_bytes = 104857600;  // socket.request.max.bytes
  // log.flush.interval.messages: 1 (weir's default) fsyncs before acknowledging; a
  // larger value is Kafka's "trust replication" mode: acknowledge once in the page
  // cache and let a background flush catch up every log.flush.interval.ms.
  int64_t flush_interval_messages = 1;
  int64_t flush_interval_ms = 1000;        // log.flush.interval.ms (only when not 1 above)
  int64_t retention_check_interval_ms = 300000;  // log.retention.check.interval.ms
  storage::LogConfig log_defaults;         // log.segment.bytes, log.retention.*, ...
  // Producer ids idle longer than this are forgotten (producer.id.expiration.ms).
  int64_t producer_id_expiration_ms = 86400000;
};

}  // namespace weir::broker
