#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.h"
#include "runtime/real/runtime.h"

namespace weir::cli {

void print_error(std::string_view command, std::string_view message) {
  fmt::print(stderr, "weir {}: {}\n", command, message);
  std::fflush(stderr);
}

int usage_error(std::string_view command, std::string_view message) {
  print_error(command, message);
  fmt::print(stderr, "Run 'weir {} --help' for usage.\n", command);
  return kExitUsage;
}

std::optional<client::ClusterOptions> cluster_options(std::string_view command,
                                                      const ParsedOptions& options) {
  const std::string text = options.get("bootstrap-server").value_or("127.0.0.1:9092");
  auto servers = client::parse_bootstrap_servers(text);
  if (!servers) {
    usage_error(command, fmt::format("invalid value '{}' for --bootstrap-server "
                                     "(expected host:port[,host:port...])",
                                     text));
    return std::nullopt;
  }
  client::ClusterOptions cluster;
  cluster.bootstrap_servers = std::move(*servers);
  cluster.connection.client_id = fmt::format("weir-{}", command);
  cluster.connection.connect_timeout = runtime::seconds(5);
  return cluster;
}

int run_client(const client::ClusterOptions& options, bool watch_signals,
               const std::function<int(runtime::Env&, client::Cluster&,
                                       const std::function<bool()>& interrupted)>& body) {
  // The CLI reads and writes no data files; the disk root is only a formality of the
  // runtime, so the current directory serves.
  auto created =
      runtime::real::RealRuntime::create(".", runtime::real::OpenFileLimit::raise_quietly);
  if (!created) {
    print_error("runtime", fmt::format("cannot start: {}", runtime::to_string(created.error())));
    return kExitFailed;
  }
  std::unique_ptr<runtime::real::RealRuntime> real = std::move(created).value();
  runtime::Event* termination = watch_signals ? &real->termination_requested() : nullptr;
  runtime::Env env = real->env();
  int status = kExitFailed;
  real->run([&] {
    client::Cluster cluster(env, options);
    std::function<bool()> interrupted = [termination] {
      return termination != nullptr && termination->is_set();
    };
    status = body(env, cluster, interrupted);
    cluster.close();
  });
  std::fflush(stdout);
  return status;
}

}  // namespace weir::cli
