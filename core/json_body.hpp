#pragma once
// Reading a JSON request body strictly, the one way every role does it: each
// failure is a dine::Error 400 whose code and message name the field
// (invalid_json, unknown_field, missing_field, invalid_field, or the caller's
// own code), so bad input changes nothing and tells the caller what to fix.
// `where` prefixes field names in messages ("items[2].").
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace dine::body {

using nlohmann::json;

// The body as a JSON object (400 invalid_json otherwise).
json object(std::string_view text);
// 400 unknown_field for any key of `obj` not in `allowed`.
void only_keys(const json& obj, std::initializer_list<const char*> allowed, std::string_view where = "");
bool has(const json& obj, const char* key);  // present and not null
// A positive id: a JSON number or a string of digits (ids travel as strings
// too), 1..2^63-1. 400 missing_field / invalid_field.
int64_t id(const json& obj, const char* key, std::string_view where = "");
// An integer lo..hi; 400 missing_field, invalid_field (not an integer) or `code` (out of range).
int64_t integer(const json& obj, const char* key, int64_t lo, int64_t hi, const char* code = "invalid_field",
                std::string_view where = "");
// A list of 1..max positive ids, each at most once. 400 missing_field,
// invalid_field, too_many (over max), duplicate_id.
std::vector<int64_t> id_list(const json& obj, const char* key, std::size_t max, std::string_view where = "");
// A positive id from a path segment or query value; 400 `code` otherwise.
int64_t path_id(std::string_view text, const char* code);

}  // namespace dine::body
