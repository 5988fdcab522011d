// The helpers around a stream consumer, against a real Redis: dead letters
// moved back and handled, the safe trim point (never above a pending entry,
// nothing when no group reads the stream), XTRIM MINID.
#include <gtest/gtest.h>

#include <memory>

#include "tests/integration/redis_support.hpp"

namespace dine::redis {
namespace {

using test::argv;
using test::Background;
using test::config;
using test::consumer_client;
using test::consumer_config;
using test::co_eventually;
using test::fresh_key;
using test::pending_ids;
using test::produce;
using test::run;
using test::Seen;
using test::xlen;

constexpr milliseconds kLong{10000};

TEST(RedisStreamId, ParsesOrdersAndSteps) {
  auto id = StreamId::parse("1700000000000-7");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->ms, 1700000000000u);
  EXPECT_EQ(id->seq, 7u);
  EXPECT_EQ(id->str(), "1700000000000-7");
  EXPECT_EQ(StreamId::parse("5")->str(), "5-0");
  EXPECT_LT(*StreamId::parse("9-99"), *StreamId::parse("10-0")) << "numeric, not text order";
  EXPECT_LT(*StreamId::parse("10-2"), *StreamId::parse("10-10"));
  EXPECT_EQ(StreamId::parse("3-4")->next().str(), "3-5");
  EXPECT_EQ(StreamId::parse("3-18446744073709551615")->next().str(), "4-0");
  EXPECT_FALSE(StreamId::parse("").has_value());
  EXPECT_FALSE(StreamId::parse("1-").has_value());
  EXPECT_FALSE(StreamId::parse("a-1").has_value());
  EXPECT_FALSE(StreamId::parse("1-2-3").has_value());
}

// Rejects every entry while `reject` is set.
struct Gate {
  bool reject = true;
  Seen seen;
};

Task<void> gate(std::shared_ptr<Gate> g, Entry e) {
  ++g->seen.deliveries[e.id];
  if (g->reject) throw bad_request("invalid_menu_item", "the menu item does not exist");
  g->seen.entries.push_back(std::move(e));
  co_return;
}

Task<void> redrive() {
  auto ex = co_await asio::this_coro::executor;
  Client c(ex, config("t-redrive"));
  const std::string stream = fresh_key("t:redrive"), group = "g", dead = stream + ":dead";
  co_await ensure_group(c, stream, group);
  for (int i = 0; i < 3; ++i) {
    Fields f;
    f.emplace_back("item", "dish-" + std::to_string(i));
    f.emplace_back("qty", std::to_string(i + 1));
    co_await c.xadd(stream, f);
  }
  StreamConsumer consumer(ex, consumer_client("t-redrive-c1"), consumer_config(stream, group, "c1"));
  auto g = std::make_shared<Gate>();
  Background running(ex, consumer.run([g](Entry e) { return gate(g, std::move(e)); }));
  EXPECT_TRUE(co_await co_eventually([&] { return consumer.figures().dead_lettered == 3; }, kLong));
  EXPECT_EQ(co_await xlen(c, dead), 3);
  EXPECT_TRUE(g->seen.entries.empty());

  // The menu is fixed: move the letters back, two, then the rest.
  g->reject = false;
  EXPECT_EQ(co_await redrive_dead_letters(c, stream, dead, 2), 2);
  EXPECT_EQ(co_await xlen(c, dead), 1);
  EXPECT_EQ(co_await redrive_dead_letters(c, stream, dead, 10), 1);
  EXPECT_EQ(co_await xlen(c, dead), 0);
  EXPECT_EQ(co_await redrive_dead_letters(c, stream, dead, 10), 0) << "nothing left";
  EXPECT_TRUE(co_await co_eventually([&] { return consumer.figures().handled == 3; }, kLong));
  DINE_CO_ASSERT_EQ(g->seen.entries.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const Entry& e = g->seen.entries[i];
    EXPECT_EQ(*e.field("item"), "dish-" + std::to_string(i)) << "oldest first, own fields intact";
    EXPECT_EQ(*e.field("qty"), std::to_string(i + 1));
    EXPECT_EQ(e.fields.size(), 2u) << "no dead_* fields come back";
  }
  EXPECT_TRUE((co_await pending_ids(c, stream, group)).empty());
  running.stop();
  EXPECT_TRUE(co_await co_eventually([&] { return running.done(); }, kLong));
}

TEST(RedisStreamAdmin, RedriveMovesDeadLettersBackAndTheyGetHandled) { run([](auto) { return redrive(); }); }

// XREADGROUP COUNT n > for one consumer of `group`; the ids read.
Task<std::vector<std::string>> read_n(Client& c, std::string stream, std::string group, int n) {
  Reply r = co_await c.command(argv("XREADGROUP", "GROUP", group, "reader", "COUNT", std::to_string(n), "STREAMS",
                                    stream, ">"));
  std::vector<std::string> ids;
  for (const Entry& e : parse_entries(r.elements.at(0).elements.at(1))) ids.push_back(e.id);
  co_return ids;
}

Task<void> ack(Client& c, std::string stream, std::string group, std::vector<std::string> ids) {
  Argv cmd = argv("XACK", stream, group);
  cmd.insert(cmd.end(), ids.begin(), ids.end());
  co_await c.command(std::move(cmd));
}

// safe_trim_id is at or below every pending entry of every group.
Task<bool> never_above_pending(Client& c, std::string stream, std::vector<std::string> groups, std::string safe) {
  for (const auto& g : groups)
    for (const auto& id : co_await pending_ids(c, stream, g))
      if (*StreamId::parse(id) < *StreamId::parse(safe)) co_return false;
  co_return true;
}

Task<void> safe_trim() {
  auto ex = co_await asio::this_coro::executor;
  Client c(ex, config("t-trim"));
  const std::string stream = fresh_key("t:trim");
  const std::string first = "g1", second = "g2", third = "g3";
  EXPECT_FALSE((co_await safe_trim_id(c, stream)).has_value()) << "no such stream";
  for (int i = 1; i <= 10; ++i)
    co_await c.command(argv("XADD", stream, std::to_string(i) + "-1", "n", std::to_string(i)));
  EXPECT_FALSE((co_await safe_trim_id(c, stream)).has_value()) << "no group: never trim what nobody read";

  co_await ensure_group(c, stream, first);
  co_await ensure_group(c, stream, second);
  std::optional<std::string> safe = co_await safe_trim_id(c, stream);
  EXPECT_EQ(safe, "0-1") << "groups that read nothing yet need everything";
  EXPECT_EQ(co_await trim_below(c, stream, *safe), 0);

  // g1 read 1..5 and acked 1, 2: 3, 4, 5 pending. g2 read 1..8, acked all.
  std::vector<std::string> g1 = co_await read_n(c, stream, first, 5);
  std::vector<std::string> g1_done(g1.begin(), g1.begin() + 2);  // (no braced list in co_await: GCC 12)
  co_await ack(c, stream, first, g1_done);
  std::vector<std::string> g2 = co_await read_n(c, stream, second, 8);
  co_await ack(c, stream, second, g2);
  safe = co_await safe_trim_id(c, stream);
  EXPECT_EQ(safe, "3-1") << "g1's oldest pending entry";
  EXPECT_TRUE(co_await never_above_pending(c, stream, argv(first, second), *safe));
  EXPECT_EQ(co_await trim_below(c, stream, *safe), 2);
  EXPECT_EQ(co_await xlen(c, stream), 8);

  // g1 acks the rest: now the entry after its last delivered one, 5-1.
  std::vector<std::string> g1_rest(g1.begin() + 2, g1.end());
  co_await ack(c, stream, first, g1_rest);
  safe = co_await safe_trim_id(c, stream);
  EXPECT_EQ(safe, "5-2");
  EXPECT_EQ(co_await trim_below(c, stream, *safe), 3);
  // What g1 and g2 have still to read is all there.
  EXPECT_EQ((co_await read_n(c, stream, first, 100)).size(), 5u);
  EXPECT_EQ((co_await read_n(c, stream, second, 100)).size(), 2u);

  // A group with an old pending entry holds the trim point down.
  co_await ensure_group(c, stream, third);
  std::vector<std::string> g3 = co_await read_n(c, stream, third, 1);
  safe = co_await safe_trim_id(c, stream);
  EXPECT_EQ(safe, g3[0]);
  EXPECT_TRUE(co_await never_above_pending(c, stream, argv(first, second, third), *safe));
}

TEST(RedisStreamAdmin, SafeTrimIdNeverPassesAPendingEntry) { run([](auto) { return safe_trim(); }); }

}  // namespace
}  // namespace dine::redis
