#include "server/server.h"

#include "runtime/real/files.h"

namespace weir::server {

// Replaced by the broker's server main (work in progress this session).
int server_main(std::span<const std::string_view> /*args*/) {
  runtime::real::print_stderr("weir server: not built yet\n");
  return 1;
}

}  // namespace weir::server
