#include "core/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <regex>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace dine::log {
namespace {

struct Context {
  std::string role = "cli";
  std::string node = "-";
  Level level = Level::Info;
  bool json = false;
};

Context& ctx() {
  static Context c;
  return c;
}

const char* level_name(Level l) {
  switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
  }
  return "info";
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\t') return true;
  return false;
}

void append_value(std::string& out, std::string_view v) {
  if (!needs_quotes(v)) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char c : v) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') {
      out.append("\\n");
      continue;
    }
    out.push_back(c);
  }
  out.push_back('"');
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

}  // namespace

void init(std::string role, std::string node, Level level, bool json) {
  auto& c = ctx();
  c.role = std::move(role);
  c.node = std::move(node);
  c.level = level;
  c.json = json;
}

Level parse_level(std::string_view s) {
  if (s == "debug") return Level::Debug;
  if (s == "info") return Level::Info;
  if (s == "warn" || s == "warning") return Level::Warn;
  if (s == "error") return Level::Error;
  throw std::invalid_argument(fmt::format("unknown log level '{}': use debug, info, warn or error", s));
}

bool enabled(Level level) { return level >= ctx().level; }

void write(Level level, std::string_view subsystem, std::string_view event, const Fields& fields) {
  const auto& c = ctx();
  std::string line;
  if (c.json) {
    nlohmann::json j = {{"ts", timestamp()}, {"level", level_name(level)}, {"role", c.role},
                        {"node", c.node},    {"sub", subsystem},          {"event", event}};
    for (const auto& [k, v] : fields) j[std::string(k)] = v;
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = fmt::format("ts={} level={} role={} node={} sub={} event={}", timestamp(), level_name(level),
                       c.role, c.node, subsystem, event);
    for (const auto& [k, v] : fields) {
      line.push_back(' ');
      line.append(k);
      line.push_back('=');
      append_value(line, v);
    }
  }
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);  // one write per line: lines never interleave
}

void Logger::warn_limited(std::string_view event, const Fields& f, int per_seconds) const {
  // Per thread, so a hot failure path on one worker takes no lock shared with
  // the others: at most one line per worker, subsystem and event per period.
  thread_local std::map<std::string, std::chrono::steady_clock::time_point, std::less<>> last;
  if (!enabled(Level::Warn)) return;
  auto now = std::chrono::steady_clock::now();
  std::string key;
  key.reserve(subsystem_.size() + 1 + event.size());
  key.append(subsystem_).push_back('/');
  key.append(event);
  auto [it, fresh] = last.try_emplace(std::move(key), now);
  if (!fresh) {
    if (now - it->second < std::chrono::seconds(per_seconds)) return;
    it->second = now;
  }
  emit(Level::Warn, event, f);
}

std::string mask_dsn(std::string_view dsn) {
  static const std::regex kv(R"((password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+))", std::regex::icase);
  static const std::regex uri(R"((://[^:/@\s]*:)[^@\s]+@)");
  std::string s = std::regex_replace(std::string(dsn), kv, "$1***");
  return std::regex_replace(s, uri, "$1***@");
}

}  // namespace dine::log
