#include "core/config.hpp"

#include <fmt/format.h>

#include "core/topology.hpp"

namespace dine::config {

using nlohmann::json;

Reader::Reader(const json& obj, std::string source, std::string path)
    : obj_(obj), source_(std::move(source)), path_(std::move(path)) {
  if (!obj_.is_object()) fail(path_.empty() ? "(top level)" : path_, "must be an object", "write it as {...}");
}

void Reader::fail(const std::string& key, const std::string& what, const std::string& fix) const {
  throw TopologyError(fmt::format("{}: {}: {}; fix: {}", source_, key, what, fix));
}

std::string Reader::key(const std::string& k) const { return path_.empty() ? k : path_ + "." + k; }

const json* Reader::get(const std::string& k) {
  seen_.insert(k);
  auto it = obj_.find(k);
  return it == obj_.end() ? nullptr : &*it;
}

std::string Reader::str(const std::string& k, std::optional<std::string> dflt) {
  const json* v = get(k);
  if (!v) {
    if (dflt) return *dflt;
    fail(key(k), "is missing", fmt::format("add \"{}\": \"...\"", k));
  }
  if (!v->is_string()) fail(key(k), "must be a string", fmt::format("write \"{}\": \"...\"", k));
  return v->get<std::string>();
}

int Reader::integer(const std::string& k, std::optional<int> dflt, int lo, int hi) {
  const json* v = get(k);
  if (!v) {
    if (dflt) return *dflt;
    fail(key(k), "is missing", fmt::format("add \"{}\": <number {}..{}>", k, lo, hi));
  }
  if (!v->is_number_integer()) fail(key(k), "must be an integer", fmt::format("write a number {}..{}", lo, hi));
  auto n = v->get<int64_t>();
  if (n < lo || n > hi) fail(key(k), fmt::format("is {}, out of range", n), fmt::format("use {}..{}", lo, hi));
  return static_cast<int>(n);
}

bool Reader::boolean(const std::string& k, bool dflt) {
  const json* v = get(k);
  if (!v) return dflt;
  if (!v->is_boolean()) fail(key(k), "must be true or false", "write true or false");
  return v->get<bool>();
}

std::vector<std::string> Reader::strings(const std::string& k, bool required) {
  const json* v = get(k);
  std::vector<std::string> out;
  if (!v) {
    if (required) fail(key(k), "is missing", fmt::format("add \"{}\": [\"...\"]", k));
    return out;
  }
  if (v->is_string()) return {v->get<std::string>()};
  if (!v->is_array()) fail(key(k), "must be a list of strings", fmt::format("write \"{}\": [\"...\"]", k));
  for (const auto& e : *v) {
    if (!e.is_string()) fail(key(k), "must be a list of strings", "quote every entry");
    out.push_back(e.get<std::string>());
  }
  return out;
}

void Reader::reject_unknown() const {
  for (auto it = obj_.begin(); it != obj_.end(); ++it)
    if (!seen_.count(it.key()))
      fail(key(it.key()), "is not a known key", "remove it or check its spelling (see deploy/local.json)");
}

}  // namespace dine::config
