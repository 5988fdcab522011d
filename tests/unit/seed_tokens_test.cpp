// The tokens file (0600 from creation, atomic, never overwritten when it is
// not a tokens file) and the plan that reconciles it with store_tokens.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "server/store/token.hpp"
#include "sim/seed/tokens.hpp"

namespace dine::seed {
namespace {

namespace fs = std::filesystem;

// Tokens "0000...01", "0000...02", ... in the order asked for.
struct Counter {
  int n = 0;
  std::string operator()() { return fmt::format("{:064x}", ++n); }
};

std::string tok(int n) { return fmt::format("{:064x}", n); }

DbToken db(int64_t store, const std::string& token, bool active = true) {
  return {store, store::token_hash(token), active};
}

TEST(TokenPlan, AnEmptyDatabaseGetsOneTokenPerStore) {
  Counter c;
  TokenPlan p = plan_tokens(3, {}, {}, false, std::ref(c));
  EXPECT_EQ(p.issued, 3);
  EXPECT_TRUE(p.file_changed);
  ASSERT_EQ(p.insert.size(), 3u);
  for (int64_t id = 1; id <= 3; ++id) {
    EXPECT_EQ(p.file.at(id), tok(static_cast<int>(id)));
    EXPECT_EQ(p.insert[static_cast<std::size_t>(id - 1)], std::make_pair(id, store::token_hash(tok(static_cast<int>(id)))));
  }
}

TEST(TokenPlan, KnownTokensAreKeptAndNothingChanges) {
  Counter c;
  TokenMap file{{1, tok(101)}, {2, tok(102)}, {9, tok(109)}};  // store 9 is beyond --stores: left alone
  TokenPlan p = plan_tokens(2, file, {db(1, tok(101)), db(2, tok(102))}, false, std::ref(c));
  EXPECT_EQ(p.kept, 2);
  EXPECT_EQ(p.issued, 0);
  EXPECT_FALSE(p.file_changed);
  EXPECT_TRUE(p.insert.empty());
  EXPECT_EQ(p.file, file);
  EXPECT_EQ(c.n, 0) << "no token made";
}

TEST(TokenPlan, TokensTheFileLacksAreReportedOrRotated) {
  std::vector<DbToken> rows{db(1, tok(101)), db(2, tok(102)), db(3, tok(103))};
  TokenMap file{{1, tok(101)}, {3, tok(999)}};  // store 2 missing; store 3's token is not the database's
  Counter c;
  TokenPlan report = plan_tokens(3, file, rows, false, std::ref(c));
  EXPECT_EQ(report.kept, 1);
  EXPECT_EQ(report.not_in_file, (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(report.insert.empty());
  EXPECT_TRUE(report.revoke.empty());
  EXPECT_FALSE(report.file_changed);

  TokenPlan rotate = plan_tokens(3, file, rows, true, std::ref(c));
  EXPECT_EQ(rotate.rotated, 2);
  EXPECT_EQ(rotate.revoke, (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(rotate.insert.size(), 2u);
  EXPECT_EQ(rotate.file.at(2), tok(1));
  EXPECT_EQ(rotate.file.at(3), tok(2));
  EXPECT_EQ(rotate.file.at(1), tok(101));
}

TEST(TokenPlan, AFileTokenTheDatabaseNeverSawIsRegistered) {
  Counter c;
  // Store 1: the file's token is unknown (a run cut short after the file was
  // written); store 2: the file's token was revoked; store 3: the file gives
  // store 1's token again.
  TokenMap file{{1, tok(101)}, {2, tok(102)}, {3, tok(101)}};
  TokenPlan p = plan_tokens(3, file, {db(2, tok(102), false)}, false, std::ref(c));
  EXPECT_EQ(p.registered, 1);
  EXPECT_EQ(p.issued, 2);
  ASSERT_EQ(p.insert.size(), 3u);
  EXPECT_EQ(p.insert[0], std::make_pair(int64_t{1}, store::token_hash(tok(101))));
  EXPECT_EQ(p.file.at(1), tok(101));
  EXPECT_EQ(p.file.at(2), tok(1)) << "a revoked token is never brought back";
  EXPECT_EQ(p.file.at(3), tok(2)) << "one token, one store";
}

class TokensFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("dine-seed-unit-{}", getpid());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(TokensFileTest, WrittenMode0600WhateverTheUmaskAndReadBack) {
  std::string path = (dir_ / "sub" / "tokens.json").string();
  EXPECT_FALSE(read_tokens_file(path).exists);
  mode_t old = ::umask(0);
  write_tokens_file(path, {{1, tok(1)}, {20, tok(20)}});
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  TokensFile f = read_tokens_file(path);
  EXPECT_TRUE(f.exists);
  EXPECT_FALSE(f.others_can_read);
  EXPECT_EQ(f.tokens, (TokenMap{{1, tok(1)}, {20, tok(20)}}));
  std::size_t files = 0;
  for (auto& e : fs::directory_iterator(dir_ / "sub")) files += e.is_regular_file();
  EXPECT_EQ(files, 1u) << "no temporary file left behind";
  ::chmod(path.c_str(), 0644);
  EXPECT_TRUE(read_tokens_file(path).others_can_read);
}

TEST_F(TokensFileTest, AnythingElseIsRefusedNamingTheFile) {
  fs::create_directories(dir_);
  for (const char* text : {"not json", "[]", R"({"1": "short"})", R"({"x": "%s"})", R"({"0": "%s"})",
                           R"({"01": "%s"})", R"({"1": 5})"}) {
    std::string path = (dir_ / "bad.json").string();
    std::string body = text;
    if (auto p = body.find("%s"); p != std::string::npos) body.replace(p, 2, tok(1));
    std::ofstream(path) << body;
    try {
      read_tokens_file(path);
      ADD_FAILURE() << "accepted: " << body;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace dine::seed
