#include "core/redis/streams.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include "core/errors.hpp"

namespace dine::redis {

namespace {

Error redis_refused(const std::string& what, const Reply& r) {
  return Error(ErrorKind::Internal, "redis_error", "internal error", what + ": " + r.str);
}

std::optional<uint64_t> parse_u64(std::string_view s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// A value of a RESP2 "map" (a flat array key, value, key, value ...).
const Reply* map_get(const Reply& flat, std::string_view key) {
  for (std::size_t i = 0; i + 1 < flat.elements.size(); i += 2)
    if (flat.elements[i].str == key) return &flat.elements[i + 1];
  return nullptr;
}

}  // namespace

const std::string* Entry::field(std::string_view name) const {
  for (const auto& [f, v] : fields)
    if (f == name) return &v;
  return nullptr;
}

bool is_dead_letter_field(std::string_view name) {
  return name == kDeadReason || name == kDeadCode || name == kDeadGroup || name == kDeadFromId;
}

std::optional<StreamId> StreamId::parse(std::string_view s) {
  auto dash = s.find('-');
  auto ms = parse_u64(s.substr(0, dash));
  if (!ms) return std::nullopt;
  if (dash == std::string_view::npos) return StreamId{*ms, 0};
  auto seq = parse_u64(s.substr(dash + 1));
  if (!seq) return std::nullopt;
  return StreamId{*ms, *seq};
}

std::string StreamId::str() const { return std::to_string(ms) + "-" + std::to_string(seq); }

StreamId StreamId::next() const {
  if (seq < std::numeric_limits<uint64_t>::max()) return {ms, seq + 1};
  return {ms + 1, 0};
}

std::vector<Entry> parse_entries(const Reply& r) {
  std::vector<Entry> out;
  if (r.type != Reply::Type::Array) return out;
  out.reserve(r.elements.size());
  for (const Reply& e : r.elements) {
    if (e.type != Reply::Type::Array || e.elements.size() < 2) continue;
    Entry entry;
    entry.id = e.elements[0].str;
    const Reply& kv = e.elements[1];
    if (kv.type != Reply::Type::Array) {
      entry.gone = true;
    } else {
      entry.fields.reserve(kv.elements.size() / 2);
      for (std::size_t i = 0; i + 1 < kv.elements.size(); i += 2)
        entry.fields.emplace_back(kv.elements[i].str, kv.elements[i + 1].str);
    }
    out.push_back(std::move(entry));
  }
  return out;
}

Task<void> ensure_group(Client& client, std::string stream, std::string group) {
  Argv create{"XGROUP", "CREATE", stream, group, "0", "MKSTREAM"};
  Reply r = co_await client.command(std::move(create));
  if (r.is_error() && r.str.rfind("BUSYGROUP", 0) != 0)
    throw redis_refused("XGROUP CREATE " + stream + " " + group, r);
}

Task<int> redrive_dead_letters(Client& client, std::string stream, std::string dead_stream, int max) {
  if (max <= 0) co_return 0;
  Argv range{"XRANGE", dead_stream, "-", "+", "COUNT", std::to_string(max)};
  Reply r = co_await client.command(std::move(range));
  if (r.is_error()) throw redis_refused("XRANGE " + dead_stream, r);

  std::vector<Argv> cmds;
  for (const Entry& e : parse_entries(r)) {
    Argv add{"XADD", stream, "*"};
    for (const auto& [f, v] : e.fields) {
      if (is_dead_letter_field(f)) continue;
      add.push_back(f);
      add.push_back(v);
    }
    if (add.size() == 3) continue;  // nothing of its own to send back
    cmds.push_back({"MULTI"});
    cmds.push_back(std::move(add));
    cmds.push_back({"XDEL", dead_stream, e.id});
    cmds.push_back({"EXEC"});
  }
  if (cmds.empty()) co_return 0;
  std::vector<Reply> replies = co_await client.pipeline(std::move(cmds));
  int moved = 0;
  for (std::size_t i = 3; i < replies.size(); i += 4) {
    const Reply& exec = replies[i];
    bool ok = exec.type == Reply::Type::Array &&
              std::none_of(exec.elements.begin(), exec.elements.end(), [](const Reply& x) { return x.is_error(); });
    if (ok) ++moved;
  }
  co_return moved;
}

Task<std::optional<std::string>> safe_trim_id(Client& client, std::string stream) {
  Argv info{"XINFO", "GROUPS", stream};
  Reply groups = co_await client.command(std::move(info));
  if (groups.is_error()) {
    if (groups.str.find("no such key") != std::string::npos) co_return std::nullopt;
    throw redis_refused("XINFO GROUPS " + stream, groups);
  }
  if (groups.type != Reply::Type::Array || groups.elements.empty()) co_return std::nullopt;

  std::optional<StreamId> lowest;
  auto consider = [&lowest](const std::optional<StreamId>& id) {
    if (id && (!lowest || *id < *lowest)) lowest = id;
  };
  std::vector<Argv> pending_queries;
  for (const Reply& g : groups.elements) {
    const Reply* name = map_get(g, "name");
    const Reply* last = map_get(g, "last-delivered-id");
    const Reply* pending = map_get(g, "pending");
    if (!name || !last) throw redis_refused("XINFO GROUPS " + stream + ": unexpected reply", g);
    auto delivered = StreamId::parse(last->str);
    if (!delivered) throw redis_refused("XINFO GROUPS " + stream + ": bad last-delivered-id", *last);
    consider(delivered->next());
    if (pending && pending->integer > 0) pending_queries.push_back({"XPENDING", stream, name->str});
  }
  if (!pending_queries.empty()) {
    // The summary form: [count, smallest id, greatest id, consumers].
    std::vector<Reply> summaries = co_await client.pipeline(std::move(pending_queries));
    for (const Reply& p : summaries) {
      if (p.is_error()) throw redis_refused("XPENDING " + stream, p);
      if (p.elements.size() >= 2 && p.elements[1].type == Reply::Type::String)
        consider(StreamId::parse(p.elements[1].str));
    }
  }
  if (!lowest) co_return std::nullopt;
  co_return lowest->str();
}

Task<int64_t> trim_below(Client& client, std::string stream, std::string id) {
  Argv trim{"XTRIM", stream, "MINID", id};
  Reply r = co_await client.command(std::move(trim));
  if (r.is_error()) throw redis_refused("XTRIM " + stream + " MINID " + id, r);
  co_return r.integer;
}

}  // namespace dine::redis
