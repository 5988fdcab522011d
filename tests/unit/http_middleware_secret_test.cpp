// The token-secret policy: a weak secret is fine on loopback and refused
// (with its source and the fix, never its text) on any other bind address.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "core/http/middleware_auth.hpp"
#include "core/topology.hpp"

namespace dine::http {
namespace {

TEST(HttpSecretPolicy, LoopbackHosts) {
  for (const char* h : {"127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LocalHost", "::ffff:127.0.0.1"})
    EXPECT_TRUE(is_loopback_host(h)) << h;
  for (const char* h : {"", "0.0.0.0", "::", "10.0.0.5", "128.0.0.1", "example.com", "localhost.example.com"})
    EXPECT_FALSE(is_loopback_host(h)) << h;
}

TEST(HttpSecretPolicy, WeakSecretIsAllowedOnLoopback) {
  EXPECT_NO_THROW(check_token_secret("", "127.0.0.1", "deploy/local.json: secret"));
  EXPECT_NO_THROW(check_token_secret("local-dev-secret-change-me", "localhost", "deploy/local.json: secret"));
  EXPECT_NO_THROW(check_token_secret("s", "::1", "DINE_SECRET"));
}

// The message of the TopologyError check_token_secret throws, or "" when it accepts.
std::string refusal_of(std::string_view secret, std::string_view host) {
  try {
    check_token_secret(secret, host, "deploy/prod.json: secret");
  } catch (const TopologyError& e) {
    return e.what();
  }
  return "";
}

TEST(HttpSecretPolicy, WeakSecretIsRefusedOffLoopback) {
  const std::string weak[] = {"", "short-secret", "local-dev-secret-change-me",
                              "a-long-secret-that-says-CHANGE-ME-somewhere-1234", std::string(40, 'a'), "secret"};
  for (const std::string& s : weak) {
    for (const char* host : {"0.0.0.0", "10.1.2.3", ""}) {
      std::string msg = refusal_of(s, host);
      ASSERT_FALSE(msg.empty()) << "accepted '" << s << "' on " << host;
      EXPECT_NE(msg.find("deploy/prod.json: secret"), std::string::npos) << msg;  // where it came from
      EXPECT_NE(msg.find("DINE_SECRET"), std::string::npos) << msg;               // the fix
      if (s.size() > std::string_view("secret").size()) {  // the word itself is in the message
        EXPECT_EQ(msg.find(s), std::string::npos) << msg;   // never the secret
      }
    }
  }
  EXPECT_NE(refusal_of("0123456789abcdef0123456789abcde", "0.0.0.0").find("31 bytes"), std::string::npos);
}

TEST(HttpSecretPolicy, RandomSecretIsAcceptedEverywhere) {
  // 32 random bytes (fixed here so the test is repeatable).
  const std::string random32 = "\x8f\x1c\xe2\x07\x5a\xb3\x99\x41\xd0\x6e\x2f\xc8\x13\x7d\xa4\x5b"
                               "\xee\x02\x91\x38\x6c\xf5\x4a\xbd\x27\x80\x1f\xd9\x63\xae\x54\xc7";
  ASSERT_EQ(random32.size(), 32u);
  EXPECT_EQ(refusal_of(random32, "0.0.0.0"), "");
  EXPECT_EQ(refusal_of("q3V9lZ0cKx7rT2mN8bWp4sYf1hJd6gEa", "10.1.2.3"), "");  // 32 printable
}

}  // namespace
}  // namespace dine::http

namespace dine::http {
namespace {

// /metrics and other admin endpoints: this machine, or a configured token.
TEST(AdminAccess, LoopbackPeersOrTheTokenOnly) {
  EXPECT_TRUE(admin_allowed("127.0.0.1", "", ""));
  EXPECT_TRUE(admin_allowed("::1", "", ""));
  EXPECT_TRUE(admin_allowed("::ffff:127.0.0.1", "", ""));
  EXPECT_FALSE(admin_allowed("10.1.2.3", "", ""));
  EXPECT_FALSE(admin_allowed("", "", ""));                         // unknown peer
  EXPECT_FALSE(admin_allowed("10.1.2.3", "Bearer anything", ""));  // no token configured: nothing opens it
  EXPECT_TRUE(admin_allowed("10.1.2.3", "Bearer s3cr3t-token", "s3cr3t-token"));
  EXPECT_FALSE(admin_allowed("10.1.2.3", "Bearer s3cr3t-tokeN", "s3cr3t-token"));
  EXPECT_FALSE(admin_allowed("10.1.2.3", "Bearer s3cr3t-token ", "s3cr3t-token"));
  EXPECT_FALSE(admin_allowed("10.1.2.3", "Basic s3cr3t-token", "s3cr3t-token"));
}

}  // namespace
}  // namespace dine::http
