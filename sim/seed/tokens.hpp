#pragma once
// The store tokens of `dine db seed`: the tokens file (JSON {"<store_id>":
// "<token>"}, mode 0600 from its creation on, replaced atomically) and the
// plan that reconciles it with store_tokens, where only hashes live.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace dine::seed {

using TokenMap = std::map<int64_t, std::string>;  // store_id -> token

struct TokensFile {
  TokenMap tokens;
  bool exists = false;
  bool others_can_read = false;  // group or world bits set: it is rewritten 0600
};

// Reads `path`; an absent file is empty. Throws std::runtime_error naming the
// file when it cannot be read or is not such a JSON object (it is never
// overwritten then: it may hold the only copy of live tokens).
TokensFile read_tokens_file(const std::string& path);

// Writes `tokens` to a temporary file created 0600 next to `path`, fsyncs it
// and renames it over `path` (then fsyncs the directory), creating the
// directory when missing. Throws std::runtime_error naming the file.
void write_tokens_file(const std::string& path, const TokenMap& tokens);

// A row of store_tokens.
struct DbToken {
  int64_t store_id = 0;
  std::string hash;
  bool active = false;  // revoked_at IS NULL
};

struct TokenPlan {
  TokenMap file;                                       // the file to write: its old entries plus new tokens
  std::vector<std::pair<int64_t, std::string>> insert;  // (store_id, hash) to add
  std::vector<int64_t> revoke;                         // stores whose unrevoked tokens are revoked first
  int64_t kept = 0;        // the file's token is the store's unrevoked one
  int64_t issued = 0;      // a store without a token got a new one
  int64_t registered = 0;  // the file's token was not in the database (a run cut short): its hash is added
  int64_t rotated = 0;     // --rotate-tokens: revoked and issued anew
  std::vector<int64_t> not_in_file;  // unrevoked tokens the file lacks (without --rotate-tokens)
  bool file_changed = false;
};

// For stores 1..stores. `make_token` makes new tokens (store::new_token; tests pass their own).
TokenPlan plan_tokens(int64_t stores, const TokenMap& file, const std::vector<DbToken>& db, bool rotate,
                      const std::function<std::string()>& make_token);

}  // namespace dine::seed
