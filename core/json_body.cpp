#include "core/json_body.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "core/errors.hpp"

namespace dine::body {
namespace {

std::optional<int64_t> digits(std::string_view text) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string_view::npos) return {};
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 1) return {};
  return v;
}

std::optional<int64_t> as_id(const json& v) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u >= 1 && u <= uint64_t(INT64_MAX)) return static_cast<int64_t>(u);
    return {};
  }
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    return i >= 1 ? std::optional<int64_t>(i) : std::nullopt;
  }
  if (v.is_string()) return digits(v.get_ref<const std::string&>());
  return {};
}

}  // namespace

json object(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw bad_request("invalid_json", "the body is not valid JSON");
  if (!j.is_object()) throw bad_request("invalid_json", "the body must be a JSON object");
  return j;
}

void only_keys(const json& obj, std::initializer_list<const char*> allowed, std::string_view where) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || it.key() == a;
    if (!ok) throw bad_request("unknown_field", fmt::format("{}{} is not a known field", where, it.key()));
  }
}

bool has(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && !it->is_null();
}

int64_t id(const json& obj, const char* key, std::string_view where) {
  if (!has(obj, key)) throw bad_request("missing_field", fmt::format("{}{} is required", where, key));
  if (auto v = as_id(obj.at(key))) return *v;
  throw bad_request("invalid_field", fmt::format("{}{} must be a positive integer", where, key));
}

int64_t integer(const json& obj, const char* key, int64_t lo, int64_t hi, const char* code, std::string_view where) {
  if (!has(obj, key)) throw bad_request("missing_field", fmt::format("{}{} is required", where, key));
  const json& v = obj.at(key);
  if (!v.is_number_integer()) throw bad_request("invalid_field", fmt::format("{}{} must be an integer", where, key));
  int64_t n = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX) ? INT64_MAX : v.get<int64_t>();
  if (n < lo || n > hi) throw bad_request(code, fmt::format("{}{} is {}; it must be {}..{}", where, key, n, lo, hi));
  return n;
}

std::vector<int64_t> id_list(const json& obj, const char* key, std::size_t max, std::string_view where) {
  if (!has(obj, key)) throw bad_request("missing_field", fmt::format("{}{} is required", where, key));
  const json& a = obj.at(key);
  if (!a.is_array() || a.empty())
    throw bad_request("invalid_field", fmt::format("{}{} must be a non-empty array of ids", where, key));
  if (a.size() > max)
    throw bad_request("too_many", fmt::format("{}{} has {} ids; at most {} at once", where, key, a.size(), max));
  std::vector<int64_t> out;
  out.reserve(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto v = as_id(a[i]);
    if (!v) throw bad_request("invalid_field", fmt::format("{}{}[{}] must be a positive integer", where, key, i));
    out.push_back(*v);
  }
  std::vector<int64_t> sorted = out;
  std::sort(sorted.begin(), sorted.end());
  if (auto d = std::adjacent_find(sorted.begin(), sorted.end()); d != sorted.end())
    throw bad_request("duplicate_id", fmt::format("{}{} lists {} twice", where, key, *d));
  return out;
}

int64_t path_id(std::string_view text, const char* code) {
  if (auto v = digits(text)) return *v;
  throw bad_request(code, fmt::format("'{}' is not an id: ids are positive integers", text.substr(0, 40)));
}

}  // namespace dine::body
