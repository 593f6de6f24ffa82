// The `weir` subcommands. Each takes the arguments after its name and returns the
// process's exit status: 0 success, 1 a failure talking to the cluster, 2 bad
// arguments (with a message naming the argument).
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli/args.h"
#include "client/cluster.h"
#include "runtime/env.h"

namespace weir::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

int topic_main(std::span<const std::string_view> args);
int produce_main(std::span<const std::string_view> args);
int consume_main(std::span<const std::string_view> args);
int perf_main(std::span<const std::string_view> args);
int cluster_main(std::span<const std::string_view> args);
int partition_main(std::span<const std::string_view> args);
int group_main(std::span<const std::string_view> args);

// Shared plumbing of the commands (common.cc).

// Prints "weir <command>: <message>" to stderr and returns kExitUsage.
int usage_error(std::string_view command, std::string_view message);
void print_error(std::string_view command, std::string_view message);

// The options every client command takes.
inline constexpr OptionSpec kBootstrapOption{"bootstrap-server", true, false,
                                             "broker(s) to connect to (default 127.0.0.1:9092)",
                                             "HOST:PORT[,...]"};
inline constexpr OptionSpec kHelpOption{"help", false, false, "print this help", ""};

// Parses --bootstrap-server into cluster options; nullopt after printing an error.
std::optional<client::ClusterOptions> cluster_options(std::string_view command,
                                                      const ParsedOptions& options);

// Runs `body` in a fiber of a fresh real runtime with a Cluster; returns its exit code.
// With `watch_signals`, SIGINT/SIGTERM no longer kill the process but make
// `interrupted` return true, so loops can stop cleanly (and print a summary).
int run_client(const client::ClusterOptions& options, bool watch_signals,
               const std::function<int(runtime::Env&, client::Cluster&,
                                       const std::function<bool()>& interrupted)>& body);

}  // namespace weir::cli
