#pragma once
// Reads typed values out of one JSON object of a configuration file, naming
// the file and the key in every error with the fix, and rejecting keys it does
// not know (a typo must not silently fall back to a default). The topology
// loader uses it, and so does each role for its own section.
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dine::config {

class Reader {
 public:
  // `path` is the key of `obj` in the file ("nodes.order-1.config"), "" at the top.
  Reader(const nlohmann::json& obj, std::string source, std::string path);

  [[noreturn]] void fail(const std::string& key, const std::string& what, const std::string& fix) const;
  std::string key(const std::string& k) const;  // "nodes.order-1.config.max_items"
  const nlohmann::json* get(const std::string& k);  // marks the key as known

  std::string str(const std::string& k, std::optional<std::string> dflt = std::nullopt);
  int integer(const std::string& k, std::optional<int> dflt, int lo, int hi);
  bool boolean(const std::string& k, bool dflt);
  std::vector<std::string> strings(const std::string& k, bool required);
  // Throws naming the first key that was never asked for.
  void reject_unknown() const;
  const std::string& source() const { return source_; }
  const std::string& path() const { return path_; }

 private:
  const nlohmann::json& obj_;
  std::string source_;
  std::string path_;
  std::set<std::string> seen_;
};

}  // namespace dine::config
