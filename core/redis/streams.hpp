#pragma once
// Redis streams with consumer groups: entries, ids, and the administrative
// helpers around a StreamConsumer (stream_consumer.hpp): creating a group at
// migrate time, moving dead letters back, trimming only what every group has
// finished with.
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/async.hpp"
#include "core/context.hpp"
#include "core/redis/client.hpp"
#include "core/redis/reply.hpp"

namespace dine::redis {

// One stream entry as a handler sees it.
struct Entry {
  std::string id;
  Fields fields;
  // Set by the consumer for each delivery: the entry's "request_id" field when
  // it has one (so a request can be followed through the stream), a new
  // background id otherwise; the deadline is the consumer's handler_timeout.
  Context ctx;
  bool gone = false;  // pending, but deleted from the stream (no fields)

  const std::string* field(std::string_view name) const;
};

// The fields a dead letter carries besides the entry's own.
inline constexpr std::string_view kDeadReason = "dead_reason";    // the error's message
inline constexpr std::string_view kDeadCode = "dead_code";        // the error's code
inline constexpr std::string_view kDeadGroup = "dead_group";      // the group that gave up
inline constexpr std::string_view kDeadFromId = "dead_from_id";  // its id in the stream
bool is_dead_letter_field(std::string_view name);
// The dead_code of an entry whose handler failed StreamConsumer's max_failures
// times (dead_reason is then the last failure's message). A poison entry's
// dead_code is its BadRequest's own code.
inline constexpr std::string_view kTooManyFailures = "too_many_failures";

// A stream entry id, "<ms>-<seq>", ordered as Redis orders them.
struct StreamId {
  uint64_t ms = 0;
  uint64_t seq = 0;
  static std::optional<StreamId> parse(std::string_view s);  // "5-1", or "5" (= "5-0")
  std::string str() const;
  StreamId next() const;  // the smallest id above this one
  auto operator<=>(const StreamId&) const = default;
};

// [[id, [field, value, ...]], ...] (XRANGE, one stream of XREADGROUP, the
// entries of XAUTOCLAIM) into entries; an entry deleted from the stream but
// still pending comes as [id, nil] and is marked gone.
std::vector<Entry> parse_entries(const Reply& r);

// XGROUP CREATE stream group 0 MKSTREAM, tolerating BUSYGROUP: the group
// reads from the beginning, so a consumer that starts late misses nothing.
// Meant for migrate time. Throws dine::Error on any other failure.
Task<void> ensure_group(Client& client, std::string stream, std::string group);

// Moves up to `max` dead letters (oldest first) back onto `stream`: each is
// XADDed with its own fields (the dead_* ones removed) and XDELed from
// `dead_stream`, both in one MULTI/EXEC. Returns how many moved. Every group
// of `stream` sees a redriven entry again, under a new id.
Task<int> redrive_dead_letters(Client& client, std::string stream, std::string dead_stream, int max);

// The smallest id any group of `stream` still needs: the oldest pending entry
// of every group and the entry after each group's last-delivered-id. Entries
// below it may be trimmed. nullopt when the stream has no group (never trim
// what nobody has read) or does not exist.
Task<std::optional<std::string>> safe_trim_id(Client& client, std::string stream);

// XTRIM stream MINID id: deletes every entry below `id`; returns how many.
Task<int64_t> trim_below(Client& client, std::string stream, std::string id);

}  // namespace dine::redis
