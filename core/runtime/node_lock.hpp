#pragma once
// A node runs once. Before it binds, a node takes an exclusive lock on
// <lock dir>/<topology>-<node id>.lock (flock, released by the kernel when the
// process dies; the file holds the owner's pid), and checks that no other
// process listens on its address (SO_REUSEPORT would let a second process bind
// and silently take half the traffic). Either failing refuses the start with a
// message naming the pid or the address and the fix.
//
// Lock dir: $DINE_LOCK_DIR, else $XDG_RUNTIME_DIR/dine, else /tmp/dine-<uid>.
#include <stdexcept>
#include <string>

#include "core/topology.hpp"

namespace dine::runtime {

class NodeTaken : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class NodeLock {
 public:
  // Throws NodeTaken when another process holds the node or its address.
  NodeLock(const Topology& topo, const Node& node);
  ~NodeLock();
  NodeLock(const NodeLock&) = delete;
  NodeLock& operator=(const NodeLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

std::string lock_dir();

// The pid of the process listening on 127.0.0.1/host:port (from /proc, same
// user only); 0 when unknown.
int listener_pid(int port);

}  // namespace dine::runtime
