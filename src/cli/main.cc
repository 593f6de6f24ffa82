// `weir`: the command-line entry point. It only dispatches: each subcommand lives in
// its own file (topic.cc, console.cc, perf.cc) and `weir server` in src/server.
#include <cstdio>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "base/assert.h"
#include "cli/commands.h"
#include "server/server.h"

namespace {

void print_help() {
  fmt::print(
      "Usage: weir <command> [options]\n\n"
      "Commands:\n"
      "  server    run a weir node (weir server --help)\n"
      "  topic     create, list, describe or delete topics\n"
      "  produce   send lines from stdin as records\n"
      "  consume   print records\n"
      "  perf      produce or consume load with live figures\n"
      "  cluster   describe the KRaft controller quorum (weir cluster quorum)\n"
      "  partition elect partition leaders: preferred or unclean (weir partition elect)\n"
      "  group     list, describe, reset offsets of or delete consumer groups\n\n"
      "Client commands take --bootstrap-server HOST:PORT (default 127.0.0.1:9092).\n"
      "Run 'weir <command> --help' for a command's options.\n");
}

int dispatch(std::span<const std::string_view> args) {
  using namespace weir::cli;
  if (args.empty()) {
    print_help();
    return kExitUsage;
  }
  const std::string_view command = args[0];
  const auto rest = args.subspan(1);
  if (command == "--help" || command == "-h" || command == "help") {
    print_help();
    return kExitOk;
  }
  if (command == "server") return weir::server::server_main(rest);
  if (command == "topic" || command == "topics") return topic_main(rest);
  if (command == "produce") return produce_main(rest);
  if (command == "consume") return consume_main(rest);
  if (command == "perf") return perf_main(rest);
  if (command == "cluster") return cluster_main(rest);
  if (command == "partition" || command == "partitions") return partition_main(rest);
  if (command == "group" || command == "groups") return group_main(rest);
  fmt::print(stderr, "weir: unknown command '{}'\n", command);
  print_help();
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args;
  for (int i = 1; i < argc; i++) args.emplace_back(argv[i]);
  const int status = dispatch(args);
  std::fflush(stdout);
  return status;
}
