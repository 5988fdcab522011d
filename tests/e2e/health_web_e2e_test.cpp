// The web board of `dine health --serve` in a real browser: a small stack of
// its own (PostgreSQL, a Redis cache, a menu node using both) started by
// `dine up`, `dine health --serve 127.0.0.1:0` as a child, and Debian's
// chromium, headless, dumping the DOM the page's script drew from
// /api/health: every node there and green, the links drawn; the cache frozen
// (SIGSTOP): its box HUNG and the root-cause line naming it; thawed: green
// again, and SIGTERM ends the board with the last snapshot's exit code.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/http/client.hpp"
#include "core/stack/process.hpp"
#include "tests/e2e/e2e_support.hpp"

namespace dine {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kChromium = "/usr/bin/chromium";

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// GET http://127.0.0.1:port/target; {} when it does not answer 200 with JSON.
json get_json(int port, std::string target) {
  try {
    auto out = e2e::http_call(port, "GET", std::move(target), "", {}, "", milliseconds(3000));
    return out.status == 200 ? json::parse(out.body, nullptr, false) : json{};
  } catch (const std::exception&) {
    return json{};
  }
}

std::string state_of(const json& board, const std::string& id) {
  if (board.is_object() && board.contains("nodes"))
    for (const auto& n : board["nodes"])
      if (n.value("id", "") == id) return n.value("state", "");
  return "";
}

// The opening tag of the node box with data-id `id` in a dumped DOM, up to
// its title (whose reasons may hold any character); "" when absent.
std::string node_tag(const std::string& dom, const std::string& id) {
  const auto at = dom.find(fmt::format("data-id=\"{}\"", id));
  if (at == std::string::npos) return "";
  const auto start = dom.rfind('<', at);
  const auto end = dom.find(" title=", at);
  return dom.substr(start, end == std::string::npos ? 200 : end - start);
}

// A process of the test's making: SIGCONT and SIGTERM (then SIGKILL) when the
// test ends, whatever happened.
struct Frozen {
  pid_t pid = 0;
  ~Frozen() {
    if (pid > 0) ::kill(pid, SIGCONT);
  }
};
struct Child {
  pid_t pid = 0;
  ~Child() {
    if (pid > 0) stack::terminate(pid, milliseconds(3000));
  }
  // SIGTERM, then the exit code within `limit` (-1: still running or killed by a signal).
  int stop(milliseconds limit) {
    ::kill(pid, SIGTERM);
    int status = 0, code = -1;
    test::eventually(
        [&] {
          if (::waitpid(pid, &status, WNOHANG) != pid) return false;
          code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
          pid = 0;
          return true;
        },
        limit, milliseconds(10));
    return code;
  }
};

class HealthWebE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    json nodes = json::array();
    nodes.push_back({{"id", "pg"}, {"kind", "postgres"}, {"port", stack::free_port()}, {"databases", {"menu"}}});
    nodes.push_back({{"id", "cache"}, {"kind", "redis"}, {"port", stack::free_port()}});
    nodes.push_back({{"id", "menu-1"}, {"kind", "dine"}, {"role", "menu"}, {"port", stack::free_port()},
                     {"node_id", 1}, {"threads", 1}, {"uses", {{"db", {"pg"}}, {"cache", {"cache"}}}}});
    stack_ = e2e::SuiteStack::make("health-web-e2e", json{{"name", "health-web-e2e"},
                                                           {"secret", "health-web-e2e-secret-0123456789abcdef"},
                                                           {"nodes", nodes}});
    root_ = stack_.root;
    topology_ = stack_.topology;
    state_ = stack_.state;
    auto up = stack_.dine("up");
    up_ = up.code == 0;
    ASSERT_EQ(up.code, 0) << up.out;
  }
  static void TearDownTestSuite() { stack_.down_and_remove(); }

  // The page as chromium rendered it after its script ran: headless, a
  // profile of its own, nothing fetched but the board (no background
  // networking), a few seconds of virtual time for the polls.
  static std::string dump_dom(const std::string& url, const std::string& name) {
    const fs::path profile = root_ / ("chromium-" + name);
    const fs::path log = root_ / ("chromium-" + name + ".log");
    std::string cmd = fmt::format(
        "timeout 60 {} --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking "
        "--disable-component-update --disable-sync --disable-extensions --user-data-dir={} "
        "--window-size=1200,900 --virtual-time-budget=3000 --dump-dom {} 2>{}",
        kChromium, profile.string(), url, log.string());
    std::string dom;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return dom;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) dom.append(buf, n);
    const int status = pclose(p);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "chromium failed (status " << status << "): " << stack::tail_file(log.string());
    return dom;
  }

  static inline e2e::SuiteStack stack_;
  static inline fs::path root_;
  static inline std::string topology_, state_;
  static inline bool up_ = false;
};

TEST_F(HealthWebE2E, TheWebBoardShowsAFrozenCacheHungAndTheRootCauseInABrowser) {
  ASSERT_TRUE(fs::exists(kChromium)) << kChromium << " is missing: the web board's browser test needs Debian's "
                                     << "chromium; fix: run `bash scripts/install-deps.sh`";
  ASSERT_TRUE(up_) << "the stack did not start";

  // The board as a child: its URL is the first line it prints.
  const std::string out = (root_ / "health-serve.log").string();
  stack::SpawnOptions so;
  so.argv = {DINE_BINARY, "--topology", topology_, "health", "--serve", "127.0.0.1:0", "--interval", "300",
             "--deadline", "300", "--state-dir", state_};
  so.log_file = out;
  so.die_with_parent = true;
  Child board;
  board.pid = stack::spawn(so);
  std::string url;
  ASSERT_TRUE(test::eventually(
      [&] {
        const std::string text = read_file(out);
        const auto at = text.find("health board: http://");
        if (at == std::string::npos) return false;
        url = text.substr(at + 14, text.find('\n', at) - at - 14);
        return true;
      },
      milliseconds(10000)))
      << "no URL printed: " << stack::tail_file(out);
  const int port = std::stoi(url.substr(url.rfind(':') + 1));
  ASSERT_EQ(url, fmt::format("http://127.0.0.1:{}/", port));

  // All green through the API first, then in the browser.
  json api;
  ASSERT_TRUE(test::eventually(
      [&] {
        api = get_json(port, "/api/health");
        return api.is_object() && api["summary"].value("worst", "") == "green";
      },
      milliseconds(15000), milliseconds(100)))
      << api.dump(2);
  std::string dom = dump_dom(url, "green");
  for (const char* id : {"pg", "cache", "menu-1"}) {
    const std::string tag = node_tag(dom, id);
    EXPECT_NE(tag.find("data-state=\"green\""), std::string::npos) << id << ": " << tag << "\n" << dom;
    EXPECT_NE(tag.find("state-green"), std::string::npos) << id << ": " << tag;
  }
  EXPECT_NE(dom.find("no root cause: nothing is sick"), std::string::npos) << dom;
  EXPECT_NE(dom.find("data-from=\"menu-1\" data-to=\"cache\""), std::string::npos) << "the link drawn: " << dom;
  EXPECT_NE(dom.find("data-from=\"menu-1\" data-to=\"pg\""), std::string::npos) << "the link drawn: " << dom;

  // The cache frozen: HUNG in the API within the deadline, then in the browser.
  Frozen cache;
  cache.pid = stack_.pid_of("cache");
  ASSERT_GT(cache.pid, 0) << stack_.dine("ps").out;
  ASSERT_EQ(::kill(cache.pid, SIGSTOP), 0);
  ASSERT_TRUE(test::eventually(
      [&] {
        api = get_json(port, "/api/health");
        return state_of(api, "cache") == "hung";
      },
      milliseconds(10000), milliseconds(100)))
      << api.dump(2);
  dom = dump_dom(url, "hung");
  const std::string tag = node_tag(dom, "cache");
  EXPECT_NE(tag.find("data-state=\"hung\""), std::string::npos) << tag << "\n" << dom;
  EXPECT_NE(tag.find("state-hung"), std::string::npos) << "drawn red: " << tag;
  EXPECT_NE(tag.find("root-cause"), std::string::npos) << "marked the root cause: " << tag;
  EXPECT_NE(dom.find("data-node=\"cache\">root cause: cache HUNG ("), std::string::npos) << dom;
  EXPECT_NE(dom.find("<tr data-node=\"cache\">"), std::string::npos) << "the change in the timeline: " << dom;
  EXPECT_NE(dom.find("data-from=\"menu-1\" data-to=\"cache\" marker-end=\"url(#arrow-sick)\""), std::string::npos)
      << "the link to the sick node drawn red: " << dom;
  if (state_of(api, "menu-1") != "green") {
    EXPECT_NE(dom.find("data-affected-by=\"cache\""), std::string::npos) << dom;
  }

  // Thawed: green again; SIGTERM ends the board with the last snapshot's code.
  ASSERT_EQ(::kill(cache.pid, SIGCONT), 0);
  cache.pid = 0;
  EXPECT_TRUE(test::eventually(
      [&] {
        api = get_json(port, "/api/health");
        return api.is_object() && api["summary"].value("worst", "") == "green";
      },
      milliseconds(15000), milliseconds(100)))
      << api.dump(2);
  EXPECT_EQ(board.stop(milliseconds(5000)), 0) << stack::tail_file(out);
}

}  // namespace
}  // namespace dine
