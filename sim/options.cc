#include "sim/options.h"

#include <cmath>
#include <optional>
#include <string_view>

#include <fmt/format.h>

namespace weir::sim {

namespace {
double log_uniform(runtime::Random& random, double low, double high) {
  return std::exp(std::log(low) + random.unit() * (std::log(high) - std::log(low)));
}
bool on(runtime::Random& random, bool allowed) { return allowed && random.below(4) != 0; }
}  // namespace

FaultProfile FaultProfile::draw(runtime::Random& random, const FaultSwitches& switches) {
  FaultProfile p;
  // Draw every value whether or not its kind is on, so that switching one kind off
  // does not reshuffle the others' draws for the same seed.
  p.disk.enabled = on(random, switches.disk);
  p.disk.read_error = log_uniform(random, 1e-4, 2e-2);
  p.disk.write_error = log_uniform(random, 1e-4, 1e-2);
  p.disk.sync_error = log_uniform(random, 1e-4, 1e-2);
  p.disk.read_corruption = log_uniform(random, 1e-4, 2e-2);
  p.disk.no_space = log_uniform(random, 1e-5, 1e-3);
  p.disk.slow = log_uniform(random, 1e-4, 1e-2);
  p.disk.unsynced_sector_survives = random.unit();
  p.disk.unsynced_entry_survives = random.unit();

  p.network.enabled = on(random, switches.network);
  p.network.partition_rate_per_second = log_uniform(random, 0.05, 1.0);
  p.network.clog_rate_per_second = log_uniform(random, 0.05, 2.0);
  p.network.reset_rate_per_second = log_uniform(random, 0.05, 2.0);
  p.network.connect_timeout = log_uniform(random, 1e-3, 0.1);

  p.process.enabled = on(random, switches.process);
  p.process.crash_rate_per_second = log_uniform(random, 0.02, 0.5);
  p.process.pause_rate_per_second = log_uniform(random, 0.02, 0.5);
  p.process.shutdown_rate_per_second = log_uniform(random, 0.02, 0.3);

  p.clock.enabled = on(random, switches.clock);
  p.clock.skew_ms_max = random.between(1, 120'000);
  p.clock.drift_ppm_max = log_uniform(random, 1, 500);

  p.buggify = on(random, switches.buggify);
  p.buggify_site_probability = 0.25;
  p.buggify_fire_probability = log_uniform(random, 0.001, 0.05);

  // Drawn last, so that adding this kind left every earlier draw of a seed as it was.
  p.descriptors = on(random, switches.descriptors);
  const double accept_or_connect = log_uniform(random, 1e-3, 5e-2);
  const double open = log_uniform(random, 1e-4, 1e-2);
  p.network.too_many_open_files = p.descriptors ? accept_or_connect : 0;
  p.disk.too_many_open_files = p.descriptors ? open : 0;
  return p;
}

std::string FaultProfile::describe() const {
  std::string out;
  auto add = [&](bool enabled, std::string_view name) {
    if (!enabled) return;
    if (!out.empty()) out += ",";
    out += name;
  };
  add(process.enabled, "process");
  add(network.enabled, "network");
  add(disk.enabled, "disk");
  add(clock.enabled, "clock");
  add(descriptors && (network.enabled || disk.enabled), "descriptors");
  add(buggify, "buggify");
  return out.empty() ? "none" : out;
}

std::string RunOptions::replay_arguments() const {
  auto in_seconds = [](runtime::Duration d) { return static_cast<double>(d.count()) / 1e9; };
  std::string out = fmt::format("--workload {} --duration {}s --heal {}s", workload,
                                in_seconds(faulty), in_seconds(healed));
  auto off = [&](bool allowed, std::string_view name) {
    if (!allowed) out += fmt::format(" --no-{}", name);
  };
  off(faults.process, "process");
  off(faults.network, "network");
  off(faults.disk, "disk");
  off(faults.clock, "clock");
  off(faults.buggify, "buggify");
  off(faults.descriptors, "descriptors");
  for (const FlawName& flaw : flaw_names) {
    if (flaws.*flaw.field) out += fmt::format(" --flaw {}", flaw.name);
  }
  return out;
}

const char* to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::ok: return "ok";
    case Verdict::crash: return "crash";
    case Verdict::liveness: return "liveness";
    case Verdict::correctness: return "correctness";
  }
  return "?";
}

int exit_code(Verdict verdict) {
  switch (verdict) {
    case Verdict::ok: return 0;
    case Verdict::crash: return 3;
    case Verdict::liveness: return 4;
    case Verdict::correctness: return 5;
  }
  return 1;
}

}  // namespace weir::sim

namespace weir::sim {

namespace {

std::optional<uint64_t> parse_unsigned(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

// "20s", "500ms", "2m", or a bare number of seconds.
std::optional<runtime::Duration> parse_duration(std::string_view text) {
  int64_t unit_ns = 1'000'000'000;
  if (text.ends_with("ms")) {
    unit_ns = 1'000'000;
    text.remove_suffix(2);
  } else if (text.ends_with("s")) {
    text.remove_suffix(1);
  } else if (text.ends_with("m")) {
    unit_ns = 60'000'000'000;
    text.remove_suffix(1);
  }
  auto value = parse_unsigned(text);
  if (!value || *value > 1'000'000) return std::nullopt;
  return runtime::Duration(static_cast<int64_t>(*value) * unit_ns);
}

}  // namespace

std::string usage() {
  return R"(usage: weir-sim [options]
  --seed N             run one seed
  --seeds A..B         run seeds A through B (inclusive)
  --duration D         length of the faulty phase (default 20s; D like 30s, 500ms, 2m)
  --heal D             length of the healed phase (default 20s)
  --workload NAME      the workload to run (default replicated_log)
  --no-process --no-network --no-disk --no-clock --no-buggify --no-descriptors
                       never inject that kind of fault (descriptors: EMFILE on
                       accept, connect and open)
  --flaw NAME          enable a deliberate bug to see a checker catch it:
                       ack-before-fsync, partition-leak, skip-checksum (replicated_log,
                       broker_log); vote-twice, vote-before-persist, commit-by-count,
                       no-divergence-truncation (raft, metadata); answer-before-commit,
                       snapshot-without-configs, answer-before-catch-up,
                       keep-stray-partitions (metadata); ack-on-leader, shrink-isr-early,
                       skip-follower-truncation, skip-divergence-check, truncate-to-hw,
                       truncate-to-leader-offset,
                       serve-past-hw, stamp-successor-epoch, hw-under-min-isr,
                       elr-keep-unclean-restart (replication);
                       group-same-generation, group-commit-any-generation,
                       group-commit-before-durable, group-load-to-hw
                       (groups); group-assign-before-revoke,
                       group-forget-consumer-state (groups-consumer)
  --trace FILE         write the event trace of the (single) seed to FILE
  --verbose            print fault counts for every seed
exit codes: 0 all passed, 2 bad usage, 3 crash, 4 liveness failure, 5 correctness failure
)";
}

Result<Command, std::string> parse_command_line(const std::vector<std::string>& arguments) {
  Command command;
  bool seeds_given = false;
  auto fail = [](std::string message) { return unexpected(std::move(message)); };
  for (size_t i = 0; i < arguments.size(); i++) {
    const std::string& argument = arguments[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= arguments.size()) return std::nullopt;
      return arguments[++i];
    };
    if (argument == "--help" || argument == "-h") {
      command.help = true;
    } else if (argument == "--seed") {
      auto text = value();
      auto seed = text ? parse_unsigned(*text) : std::nullopt;
      if (!seed)
        return fail(
            fmt::format("--seed needs a non-negative integer, got '{}'", text.value_or("")));
      command.seed_first = command.seed_last = *seed;
      seeds_given = true;
    } else if (argument == "--seeds") {
      auto text = value();
      const size_t dots = text ? text->find("..") : std::string::npos;
      std::optional<uint64_t> first, last;
      if (dots != std::string::npos) {
        first = parse_unsigned(std::string_view(*text).substr(0, dots));
        last = parse_unsigned(std::string_view(*text).substr(dots + 2));
      }
      if (!first || !last || *first > *last) {
        return fail(
            fmt::format("--seeds needs a range A..B with A <= B, got '{}'", text.value_or("")));
      }
      command.seed_first = *first;
      command.seed_last = *last;
      seeds_given = true;
    } else if (argument == "--duration" || argument == "--heal") {
      auto text = value();
      auto duration = text ? parse_duration(*text) : std::nullopt;
      if (!duration) {
        return fail(fmt::format("{} needs a duration like 30s or 500ms, got '{}'", argument,
                                text.value_or("")));
      }
      (argument == "--duration" ? command.run.faulty : command.run.healed) = *duration;
    } else if (argument == "--workload") {
      auto text = value();
      if (!text) return fail("--workload needs a name");
      command.run.workload = *text;
    } else if (argument == "--no-process") {
      command.run.faults.process = false;
    } else if (argument == "--no-network") {
      command.run.faults.network = false;
    } else if (argument == "--no-disk") {
      command.run.faults.disk = false;
    } else if (argument == "--no-clock") {
      command.run.faults.clock = false;
    } else if (argument == "--no-buggify") {
      command.run.faults.buggify = false;
    } else if (argument == "--no-descriptors") {
      command.run.faults.descriptors = false;
    } else if (argument == "--flaw") {
      auto text = value();
      bool known = false;
      std::string names;
      for (const FlawName& flaw : flaw_names) {
        if (text && *text == flaw.name) {
          command.run.flaws.*flaw.field = true;
          known = true;
        }
        names += names.empty() ? flaw.name : fmt::format(", {}", flaw.name);
      }
      if (!known) return fail(fmt::format("unknown --flaw '{}' ({})", text.value_or(""), names));
    } else if (argument == "--trace") {
      auto text = value();
      if (!text || text->empty()) return fail("--trace needs a file name");
      command.trace_file = *text;
    } else if (argument == "--verbose" || argument == "-v") {
      command.verbose = true;
    } else {
      return fail(fmt::format("unknown option '{}'", argument));
    }
  }
  if (!seeds_given && !command.help) return fail("give --seed N or --seeds A..B");
  if (!command.trace_file.empty() && command.seed_first != command.seed_last) {
    return fail("--trace takes a single --seed");
  }
  command.run.keep_trace = !command.trace_file.empty();
  return command;
}

}  // namespace weir::sim
