// The service credential: made and checked with the topology's secret; any
// change to the caller, the MAC or the secret is refused; a JWT is not one.
#include <gtest/gtest.h>

#include "core/jwt.hpp"
#include "core/service_auth.hpp"

namespace dine {
namespace {

const std::string kSecret = "a-secret-of-thirty-two-bytes-at-least!";

TEST(ServiceAuth, ACredentialNamesItsCallerAndOnlyItsSecretMakesIt) {
  std::string c = service_credential(kSecret, "app-1");
  EXPECT_EQ(verify_service(kSecret, c), "app-1");
  EXPECT_EQ(c.rfind("app-1.", 0), 0u);
  EXPECT_FALSE(verify_service("another-secret-of-thirty-two-bytes!!", c));
  std::string other = c;
  other.replace(0, 5, "app-2");  // same MAC, another caller
  EXPECT_FALSE(verify_service(kSecret, other));
  std::string flipped = c;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verify_service(kSecret, flipped));
  EXPECT_FALSE(verify_service(kSecret, ""));
  EXPECT_FALSE(verify_service(kSecret, "app-1"));
  std::string no_caller = c.substr(c.find('.'));  // ".<mac>"
  EXPECT_FALSE(verify_service(kSecret, no_caller));
  EXPECT_FALSE(verify_service("", service_credential("", "app-1")));
}

TEST(ServiceAuth, AMembersTokenIsNotAServiceCredential) {
  std::string token = jwt::sign({{"sub", "42"}}, kSecret, 3600);
  EXPECT_FALSE(verify_service(kSecret, token));
}

}  // namespace
}  // namespace dine
