#include "raft/quorum_state_file.h"

#include <fmt/format.h>

#include "base/text.h"
#include "record/crc32c.h"

namespace weir::raft {

namespace {

std::string body_of(const QuorumState& state, const std::vector<ReplicaId>& voters) {
  std::string voter_list;
  for (ReplicaId voter : voters) {
    if (!voter_list.empty()) voter_list += ",";
    voter_list += fmt::format("{{\"voterId\":{}}}", voter.value());
  }
  return fmt::format(
      "{{\"clusterId\":\"\",\"leaderId\":{},\"leaderEpoch\":{},\"votedId\":{},"
      "\"appliedOffset\":0,\"currentVoters\":[{}],\"data_version\":0",
      state.leader ? state.leader->value() : -1, state.epoch.value(),
      state.voted_for ? state.voted_for->value() : -1, voter_list);
}

uint32_t checksum(std::string_view body) {
  return record::crc32c(std::span(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
}

// The integer after `"key":` in `text`.
std::optional<int64_t> field(std::string_view text, std::string_view key) {
  const std::string needle = fmt::format("\"{}\":", key);
  const size_t at = text.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  size_t end = at + needle.size();
  const size_t start = end;
  if (end < text.size() && text[end] == '-') end++;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9') end++;
  return parse_integer<int64_t>(text.substr(start, end - start));
}

}  // namespace

std::string format_quorum_state(const QuorumState& state, const std::vector<ReplicaId>& voters) {
  const std::string body = body_of(state, voters);
  return fmt::format("{},\"weirCrc32c\":{}}}\n", body, checksum(body));
}

std::optional<QuorumState> parse_quorum_state(std::string_view text) {
  const std::string_view crc_key = ",\"weirCrc32c\":";
  const size_t crc_at = text.rfind(crc_key);
  if (crc_at == std::string_view::npos) return std::nullopt;
  const auto crc = field(text.substr(crc_at + 1), "weirCrc32c");
  const std::string_view body = text.substr(0, crc_at);
  if (!crc || static_cast<uint32_t>(*crc) != checksum(body)) return std::nullopt;
  const auto leader = field(body, "leaderId");
  const auto epoch = field(body, "leaderEpoch");
  const auto voted = field(body, "votedId");
  if (!leader || !epoch || !voted || *epoch < 0 || *epoch > INT32_MAX) return std::nullopt;
  QuorumState state;
  state.epoch = Epoch(static_cast<int32_t>(*epoch));
  if (*leader >= 0) state.leader = ReplicaId(static_cast<int32_t>(*leader));
  if (*voted >= 0) state.voted_for = ReplicaId(static_cast<int32_t>(*voted));
  return state;
}

}  // namespace weir::raft
