#include "cli/commands.hpp"
#include "core/log.hpp"

namespace dine::cli {

void init_cli_logs(const Globals& g) {
  log::init("cli", "-", g.log_level.empty() ? log::Level::Warn : log::parse_level(g.log_level), g.json_logs);
}

}  // namespace dine::cli
