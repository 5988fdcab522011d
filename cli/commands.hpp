#pragma once
// One setup function per subcommand (CLI11). cli/ only parses flags and calls
// into core/, server/ and sim/; no business logic lives here.
#include <string>

namespace CLI {
class App;
}

namespace dine::cli {

struct Globals {
  std::string topology_path;  // --topology FILE; empty: DINE_TOPOLOGY or the embedded default
  std::string log_level;  // empty: info for `serve`, warn for the other commands
  bool json_logs = false;
};

// A failure the user can act on: printed as "dine: <message>" and exit code `code`.
struct Failure {
  std::string message;
  int code = 1;
};

// Logging for the commands that are not servers: warnings and errors only,
// unless --log-level says otherwise (their output is the report, not logs).
void init_cli_logs(const Globals& g);

void setup_serve(CLI::App& app, Globals& g);  // dine serve ROLE
void setup_db(CLI::App& app, Globals& g);     // dine db migrate, seed
void setup_db_seed(CLI::App& db, Globals& g); // dine db seed (under setup_db's "db")
void setup_stack(CLI::App& app, Globals& g);  // dine up, down, ps
void setup_sim(CLI::App& app, Globals& g);    // dine sim orders
void setup_demo(CLI::App& app, Globals& g);   // dine demo
void setup_outbox(CLI::App& app, Globals& g); // dine outbox redrive
void setup_stream(CLI::App& app, Globals& g); // dine stream redrive
void setup_audit(CLI::App& app, Globals& g);  // dine audit coupons
void setup_health(CLI::App& app, Globals& g); // dine health
void setup_gen(CLI::App& app, Globals& g);    // dine gen nginx
void setup_gateway(CLI::App& app, Globals& g); // dine gateway stats
void setup_prewarm(CLI::App& app, Globals& g); // dine prewarm menu

struct GroupResult;
// "group oms on dine:orders created from id 0 (read by oms-1)": for migrate, up and demo.
std::string group_line(const GroupResult& g);

}  // namespace dine::cli
