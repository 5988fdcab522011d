#pragma once
// Structured logs: one line per event, key=value (or JSON with DINE_LOG_FORMAT=json),
// always carrying role, node and, when known, the request id.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace dine::log {

enum class Level { Debug, Info, Warn, Error };

// Set once at start-up, before threads start.
void init(std::string role, std::string node, Level level, bool json);
Level parse_level(std::string_view s);  // "debug", "info", ...; throws std::invalid_argument

using Field = std::pair<std::string_view, std::string>;
using Fields = std::vector<Field>;

void write(Level level, std::string_view subsystem, std::string_view event, const Fields& fields);
bool enabled(Level level);

// One named logger per subsystem ("http", "pg", "relay", ...).
class Logger {
 public:
  explicit Logger(std::string subsystem) : subsystem_(std::move(subsystem)) {}
  void debug(std::string_view event, const Fields& f = {}) const { emit(Level::Debug, event, f); }
  void info(std::string_view event, const Fields& f = {}) const { emit(Level::Info, event, f); }
  void warn(std::string_view event, const Fields& f = {}) const { emit(Level::Warn, event, f); }
  void error(std::string_view event, const Fields& f = {}) const { emit(Level::Error, event, f); }

  // Hot failure paths: at most one line per `per_seconds` for this logger and event.
  void warn_limited(std::string_view event, const Fields& f = {}, int per_seconds = 5) const;

 private:
  void emit(Level level, std::string_view event, const Fields& f) const {
    if (enabled(level)) write(level, subsystem_, event, f);
  }
  std::string subsystem_;
};

// "host=... password=secret" -> "host=... password=***"; also user:pass@ in URIs.
std::string mask_dsn(std::string_view dsn);

}  // namespace dine::log
