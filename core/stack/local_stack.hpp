#pragma once
// The local stack of one topology: starts its datastores and dine roles as
// processes of this machine, records their pids in <state_dir>/state.json,
// lists and stops them by pid. Data dirs and logs stay under the state dir.
#include <functional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "core/topology.hpp"

namespace dine::stack {

struct NodeStatus {
  std::string id;
  std::string kind;  // "postgres", "redis", "nginx", "dine"
  std::string role;  // dine roles only
  std::string host;
  int port = 0;
  pid_t pid = 0;       // 0: not started
  std::string state;   // "running", "stopped", "hung?" (pid alive, port not accepting)
  std::string log;     // its log file

  std::string address() const;
};

// What a node just did, e.g. {"pg-order-0", "postgres ready on 127.0.0.1:25440, pid 42", true}.
struct StackEvent {
  std::string node;
  std::string message;
  bool done = true;  // false: a step on the way ("initialising a new data dir")
};
using Progress = std::function<void(const StackEvent&)>;

class LocalStack {
 public:
  // topology_path: the file the roles are to load (empty: the embedded one).
  // state_dir: empty means DINE_STATE_DIR, else .dine/<topology name>.
  LocalStack(const Topology& topo, std::string topology_path, std::string state_dir = "");
  ~LocalStack();
  LocalStack(const LocalStack&) = delete;
  LocalStack& operator=(const LocalStack&) = delete;

  const std::string& state_dir() const { return state_dir_; }
  static std::string default_state_dir(const Topology& topo);

  bool is_up() const;  // a state file exists and one of its pids is alive

  // PostgreSQL (initdb on first use) and Redis nodes, each in state_dir/<id>/.
  // Throws naming the node; what was started stays recorded for down().
  void start_datastores(const Progress& progress = {});
  // Each dine node as `self_exe --topology F serve ROLE --node ID`, in
  // dependency order, each waited for until GET /readyz answers 200 (30 s).
  void start_roles(const std::string& self_exe, const Progress& progress = {});
  // Each nginx node (a gateway): its config rendered into state_dir/<id>/nginx.conf
  // and checked with `nginx -t`, then nginx started and waited for until its
  // port accepts connections (10 s). After start_roles: it forwards to them.
  void start_gateways(const Progress& progress = {});
  // Gateways first (SIGQUIT: requests in flight finish), then roles
  // (SIGTERM, 10 s), then Redis and PostgreSQL; keeps data and logs.
  void down(const Progress& progress = {});

  std::vector<NodeStatus> ps() const;

 private:
  struct Entry;
  void load_state();
  void save_state() const;
  Entry& record(const Node& n, pid_t pid, const std::string& log);
  const Entry* entry(const std::string& id) const;
  // An flock on state_dir/.lock from the first start or down until down ends
  // or this object dies: two `dine up` never work on one state dir at once.
  void lock();
  void unlock();
  void check_port_free(const Node& n) const;

  Topology topo_;
  std::string topology_path_;
  std::string state_dir_;
  std::string started_at_;
  std::vector<Entry> entries_;
  int lock_fd_ = -1;
};

}  // namespace dine::stack
