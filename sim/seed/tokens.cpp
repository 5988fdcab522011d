#include "sim/seed/tokens.hpp"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "server/store/token.hpp"

namespace dine::seed {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(fmt::format("{}: {}", path, what));
}

std::string sys_error() { return std::strerror(errno); }

std::optional<int64_t> store_id_of(const std::string& key) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), v);
  if (ec != std::errc() || end != key.data() + key.size() || v < 1 || key[0] == '0') return {};
  return v;
}

void write_all(int fd, const std::string& data, const std::string& path) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(path, "cannot write: " + sys_error());
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace

TokensFile read_tokens_file(const std::string& path) {
  TokensFile f;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return f;
    fail(path, "cannot read the tokens file: " + sys_error());
  }
  if (!S_ISREG(st.st_mode)) fail(path, "is not a regular file; fix: give --tokens-file a file path");
  f.exists = true;
  f.others_can_read = (st.st_mode & 077) != 0;
  std::ifstream in(path);
  if (!in) fail(path, "cannot read the tokens file: " + sys_error());
  std::stringstream text;
  text << in.rdbuf();
  const std::string bad = "is not a tokens file ({\"<store_id>\": \"<64 hex digits>\", ...}); fix: move it away "
                          "or give another --tokens-file (it is never overwritten: it may hold live tokens)";
  nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail(path, bad);
  for (const auto& [key, value] : j.items()) {
    auto id = store_id_of(key);
    if (!id || !value.is_string() || !store::well_formed_token(value.get<std::string>()))
      fail(path, fmt::format("entry \"{}\" {}", key, bad));
    f.tokens[*id] = value.get<std::string>();
  }
  return f;
}

void write_tokens_file(const std::string& path, const TokenMap& tokens) {
  fs::path target(path);
  fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(path, fmt::format("cannot create the directory {}: {}", dir.string(), ec.message()));

  std::string text = "{\n";
  bool first = true;
  for (const auto& [id, token] : tokens) {
    text += fmt::format("{}  \"{}\": \"{}\"", first ? "" : ",\n", id, token);
    first = false;
  }
  text += "\n}\n";

  // mkstemp creates the file 0600 with O_EXCL: it is never readable by others, not even briefly.
  std::string tmp = path + ".XXXXXX";
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) fail(path, "cannot create a temporary file next to it: " + sys_error());
  try {
    if (::fchmod(fd, 0600) != 0) fail(tmp, "cannot set mode 0600: " + sys_error());
    write_all(fd, text, tmp);
    if (::fsync(fd) != 0) fail(tmp, "cannot sync: " + sys_error());
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    fail(tmp, "cannot close: " + sys_error());
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = sys_error();
    ::unlink(tmp.c_str());
    fail(path, "cannot replace it: " + why);
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // the rename survives a crash
    ::close(dfd);
  }
}

TokenPlan plan_tokens(int64_t stores, const TokenMap& file, const std::vector<DbToken>& db, bool rotate,
                      const std::function<std::string()>& make_token) {
  std::unordered_map<std::string, const DbToken*> by_hash;
  std::unordered_map<int64_t, int> active;
  for (const DbToken& t : db) {
    by_hash[t.hash] = &t;
    if (t.active) ++active[t.store_id];
  }
  std::unordered_set<std::string> planned;  // a hash is added once, whatever the file repeats
  TokenPlan p;
  p.file = file;
  auto issue = [&](int64_t id) {
    std::string token = make_token();
    p.insert.emplace_back(id, store::token_hash(token));
    planned.insert(p.insert.back().second);
    p.file[id] = std::move(token);
    p.file_changed = true;
  };
  for (int64_t id = 1; id <= stores; ++id) {
    auto f = file.find(id);
    const DbToken* known = nullptr;
    std::string hash;
    if (f != file.end()) {
      hash = store::token_hash(f->second);
      if (auto it = by_hash.find(hash); it != by_hash.end()) known = it->second;
    }
    if (known && known->store_id == id && known->active) {
      ++p.kept;
    } else if (active.count(id)) {  // unrevoked tokens, none of them in the file
      if (!rotate) {
        p.not_in_file.push_back(id);
        continue;
      }
      p.revoke.push_back(id);
      issue(id);
      ++p.rotated;
    } else if (f != file.end() && !known && planned.insert(hash).second) {
      // The file has it and the database never had it: a run cut short between the two.
      p.insert.emplace_back(id, hash);
      ++p.registered;
    } else {  // no token; or the file's was revoked or belongs to another store
      issue(id);
      ++p.issued;
    }
  }
  return p;
}

}  // namespace dine::seed
