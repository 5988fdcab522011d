#pragma once
// Process supervision for the local stack and the test harness: spawn detached
// children with their output in a log file, optionally as another user (the
// postgres user when we are root), check and stop them by pid.
#include <cstddef>
#include <optional>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

#include "core/async.hpp"

namespace dine::stack {

struct SpawnOptions {
  std::vector<std::string> argv;                         // argv[0] is a path or a name on PATH
  std::string log_file;                                  // stdout+stderr appended here
  std::optional<std::string> run_as;                     // user name (only when root)
  std::vector<std::pair<std::string, std::string>> env;  // added to the environment
  std::string cwd;                                       // empty: inherit
  bool die_with_parent = false;  // SIGKILL when the spawning thread dies (test servers)
};

// Starts the child in its own session (it survives our exit). Throws
// std::runtime_error naming the program when it cannot start.
pid_t spawn(const SpawnOptions& opts);

// Spawns and waits for the exit; returns the exit code (128+signal when
// killed). Kills the child and throws when it outlives `timeout`.
int run_and_wait(const SpawnOptions& opts, milliseconds timeout);

bool alive(pid_t pid);  // exists and is not a zombie

// SIGTERM, wait up to `grace`, then SIGKILL. True when the process is gone.
bool terminate(pid_t pid, milliseconds grace);
void kill_hard(pid_t pid);  // SIGKILL, reaped if our child

// A port on 127.0.0.1 that was free a moment ago.
int free_port();

// Polls until a TCP connect to host:port succeeds (never a blind sleep).
bool wait_port(const std::string& host, int port, Deadline deadline);

// Blocking HTTP GET (for readiness checks from the CLI); returns the status, 0 if unreachable.
int http_get_status(const std::string& host, int port, const std::string& target, milliseconds timeout);

// The last `lines` lines of a text file ("" when unreadable): for error messages.
std::string tail_file(const std::string& path, std::size_t lines = 20);

// Sends `request` over TCP and returns the first line of the answer (without
// CRLF); "" when unreachable or silent until `timeout`. E.g. a Redis PING.
std::string tcp_first_line(const std::string& host, int port, const std::string& request,
                           milliseconds timeout);

bool running_as_root();
// Makes every directory above `dir` searchable by other users (o+x), so a
// server we start as another user (postgres, nginx's workers) reaches `dir`.
void make_traversable(const std::string& dir);
// The user the postgres server runs as when we are root ("postgres"); nullopt otherwise.
std::optional<std::string> postgres_run_as();

}  // namespace dine::stack
