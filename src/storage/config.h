// Per-partition log configuration. Field names follow Kafka's topic config keys (named
// in each comment) and the defaults are Kafka's, so a topic config maps one to one.
#pragma once

#include <cstdint>
#include <limits>

#include "record/types.h"

namespace weir::storage {

struct LogConfig {
  // segment.bytes: roll to a new segment when the active one would grow past this.
  int64_t segment_bytes = 1LL << 30;
  // segment.ms: roll when the active segment is older than this (7 days).
  int64_t segment_ms = 7LL * 24 * 60 * 60 * 1000;
  // segment.index.bytes: the offset index of one segment holds at most this much
  // (a segment rolls when its index is full).
  int64_t segment_index_bytes = 10LL * 1024 * 1024;
  // index.interval.bytes: bytes of log between two offset-index entries.
  int64_t index_interval_bytes = 4096;
  // retention.ms: delete segments whose newest record is older (7 days; -1 = never).
  int64_t retention_ms = 7LL * 24 * 60 * 60 * 1000;
  // retention.bytes: delete old segments while the log exceeds this (-1 = no limit).
  int64_t retention_bytes = -1;
  // max.message.bytes: the largest batch accepted on append.
  int64_t max_message_bytes = 1048588;
  // message.timestamp.type: LogAppendTime makes append stamp each batch with the
  // broker's wall clock (CreateTime keeps the producer's timestamps).
  record::TimestampType message_timestamp_type = record::TimestampType::create_time;
};

}  // namespace weir::storage
