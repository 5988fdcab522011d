// JWT (HS256): round trip, tampering, wrong secret, alg confusion, expiry,
// the base64url codec, and verify_bearer's required claims and clock skew.
#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/jwt.hpp"

namespace dine::jwt {
namespace {

using nlohmann::json;

const std::string kSecret = "test-secret";

// Returns the error code of verify_at, or "" when it accepted the token.
std::string verify_code(const std::string& token, const std::string& secret, int64_t now = 1'700'000'000) {
  try {
    verify_at(token, secret, now);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unauthorized) << e.what();
    return e.code();
  }
  return "";
}

struct Parts {
  std::string head, body, sig;
};
Parts split(const std::string& token) {
  auto d1 = token.find('.'), d2 = token.find('.', d1 + 1);
  return {token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1), token.substr(d2 + 1)};
}
std::string join(const Parts& p) { return p.head + "." + p.body + "." + p.sig; }

TEST(Jwt, RoundTrip) {
  json claims = {{"sub", "member:42"}, {"role", "member"}, {"uid", 42}};
  auto token = sign(claims, kSecret);
  EXPECT_EQ(std::count(token.begin(), token.end(), '.'), 2);
  EXPECT_EQ(token.find('='), std::string::npos);  // unpadded
  auto back = verify(token, kSecret);
  EXPECT_EQ(back, claims);
  EXPECT_EQ(json::parse(base64url_decode(split(token).head)), json({{"alg", "HS256"}, {"typ", "JWT"}}));
}

TEST(Jwt, TtlAddsIatAndExp) {
  auto token = sign({{"sub", "x"}}, kSecret, 60);
  auto claims = verify(token, kSecret);
  ASSERT_TRUE(claims.contains("iat"));
  ASSERT_TRUE(claims.contains("exp"));
  EXPECT_EQ(claims["exp"].get<int64_t>() - claims["iat"].get<int64_t>(), 60);
}

TEST(Jwt, ExpiredTokenIsRefused) {
  auto token = sign({{"sub", "x"}}, kSecret, 60);
  int64_t exp = verify(token, kSecret)["exp"].get<int64_t>();
  EXPECT_EQ(verify_code(token, kSecret, exp - 1), "");
  EXPECT_EQ(verify_code(token, kSecret, exp), "token_expired");
  EXPECT_EQ(verify_code(token, kSecret, exp + 3600), "token_expired");
  // Expiry is checked only after the signature: a forged token is invalid, not expired.
  EXPECT_EQ(verify_code(token, "other", exp + 3600), "invalid_token");
}

TEST(Jwt, NonNumericExpIsInvalid) {
  EXPECT_EQ(verify_code(sign({{"exp", "tomorrow"}}, kSecret), kSecret), "invalid_token");
}

TEST(Jwt, KnownVectorFromRfcStyleExample) {
  // The well-known jwt.io HS256 example, signed by another implementation.
  const std::string token =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
      "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
      "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
  auto claims = verify_at(token, "your-256-bit-secret", 1'700'000'000);
  EXPECT_EQ(claims["sub"], "1234567890");
  EXPECT_EQ(claims["name"], "John Doe");
  EXPECT_EQ(verify_code(token, "your-256-bit-secreT"), "invalid_token");
}

TEST(Jwt, TamperedPayloadIsRejected) {
  auto token = sign({{"sub", "member:1"}, {"role", "member"}}, kSecret);
  Parts p = split(token);
  p.body = base64url_encode(json({{"sub", "member:1"}, {"role", "admin"}}).dump());
  EXPECT_EQ(verify_code(join(p), kSecret), "invalid_token");
  // One flipped character anywhere in the payload.
  for (std::size_t i = 0; i < split(token).body.size(); ++i) {
    Parts q = split(token);
    q.body[i] = q.body[i] == 'A' ? 'B' : 'A';
    ASSERT_EQ(verify_code(join(q), kSecret), "invalid_token") << i;
  }
}

TEST(Jwt, TamperedSignatureIsRejected) {
  auto token = sign({{"sub", "member:1"}}, kSecret);
  // Every single-character change of the signature, including the last one,
  // whose low bits are padding: there is exactly one spelling of a signature.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string sig = split(token).sig;
  ASSERT_EQ(sig.size(), 43u);
  for (std::size_t i = 0; i < sig.size(); ++i)
    for (char c : alphabet) {
      if (c == sig[i]) continue;
      Parts q = split(token);
      q.sig[i] = c;
      ASSERT_EQ(verify_code(join(q), kSecret), "invalid_token") << "position " << i << " char " << c;
    }
  Parts empty = split(token);
  empty.sig.clear();
  EXPECT_EQ(verify_code(join(empty), kSecret), "invalid_token");
  Parts shorter = split(token);
  shorter.sig.pop_back();
  EXPECT_EQ(verify_code(join(shorter), kSecret), "invalid_token");
}

TEST(Jwt, WrongSecretIsRejected) {
  auto token = sign({{"sub", "x"}}, kSecret);
  EXPECT_EQ(verify_code(token, "test-secreT"), "invalid_token");
  EXPECT_EQ(verify_code(token, ""), "invalid_token");
}

TEST(Jwt, AlgNoneAndOtherAlgsAreRejected) {
  json claims = {{"sub", "member:1"}};
  std::string body = base64url_encode(claims.dump());
  // "alg": "none" with an empty signature.
  std::string none = base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + body + ".";
  EXPECT_EQ(verify_code(none, kSecret), "invalid_token");
  // "alg": "none" carrying a valid HS256 signature of its own header.
  auto forged = sign(claims, kSecret);
  Parts p = split(forged);
  p.head = base64url_encode(R"({"alg":"none"})");
  EXPECT_EQ(verify_code(join(p), kSecret), "invalid_token");
  // Other algorithms, a missing alg, and an alg that is not a string.
  for (const char* head : {R"({"alg":"HS512"})", R"({"alg":"hs256"})", R"({"typ":"JWT"})", R"({"alg":1})",
                           R"({"alg":null})", R"({"alg":["HS256"]})", R"(["HS256"])", R"("HS256")"}) {
    Parts q = split(forged);
    q.head = base64url_encode(head);
    EXPECT_EQ(verify_code(join(q), kSecret), "invalid_token") << head;
  }
}

TEST(Jwt, MalformedTokensAreInvalid) {
  auto token = sign({{"sub", "x"}}, kSecret);
  for (const std::string& bad :
       {std::string(""), std::string("."), std::string(".."), std::string("abc"), std::string("a.b"),
        token + ".", "x" + token, token + "x", std::string("a.b.c.d"), std::string("!!!.###.$$$"),
        base64url_encode("not json") + "." + split(token).body + "." + split(token).sig,
        split(token).head + "." + base64url_encode("[1,2]") + "." + split(token).sig})
    EXPECT_EQ(verify_code(bad, kSecret), "invalid_token") << bad;
}

TEST(Jwt, Base64UrlVectors) {
  // RFC 4648 §10, without padding.
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  // The URL-safe alphabet: '+' -> '-', '/' -> '_'.
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64url_encode(std::string("\0\0\0", 3)), "AAAA");
  for (const char* s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"})
    EXPECT_EQ(base64url_decode(base64url_encode(s)), s);
  EXPECT_EQ(base64url_decode("-_8"), "\xfb\xff");
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(base64url_decode(base64url_encode(all)), all);
}

TEST(Jwt, Base64UrlDecodeIsStrict) {
  EXPECT_THROW(base64url_decode("Zm9v="), std::invalid_argument);   // padding is not base64url
  EXPECT_THROW(base64url_decode("Zm+v"), std::invalid_argument);    // standard alphabet
  EXPECT_THROW(base64url_decode("Zm/v"), std::invalid_argument);
  EXPECT_THROW(base64url_decode("Zm9 v"), std::invalid_argument);
  EXPECT_THROW(base64url_decode("Z"), std::invalid_argument);       // impossible length
  EXPECT_THROW(base64url_decode("Zm9vY"), std::invalid_argument);
  EXPECT_THROW(base64url_decode("Zh"), std::invalid_argument);      // non-zero padding bits
  EXPECT_THROW(base64url_decode("Zm9"), std::invalid_argument);
}

// ---- verify_bearer: the stricter rules for tokens on the request path -------

constexpr int64_t kNow = 1'700'000'000;

// Returns the error code of verify_bearer_at, or "" when it accepted the token.
std::string bearer_code(const json& claims, int64_t skew = kDefaultSkewSeconds) {
  try {
    verify_bearer_at(sign(claims, kSecret), kSecret, kNow, skew);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unauthorized) << e.what();
    return e.code();
  }
  return "";
}

json bearer_claims() { return {{"sub", "user:1"}, {"iat", kNow}, {"exp", kNow + 300}}; }

json with(json claims, const std::string& key, json value) {
  if (value.is_null()) claims.erase(key);
  else claims[key] = std::move(value);
  return claims;
}

TEST(JwtBearer, AcceptsAValidToken) {
  auto claims = verify_bearer_at(sign(bearer_claims(), kSecret), kSecret, kNow);
  EXPECT_EQ(claims["sub"], "user:1");
}

TEST(JwtBearer, ExpIsRequired) {
  EXPECT_EQ(bearer_code(with(bearer_claims(), "exp", nullptr)), "invalid_token");
  EXPECT_EQ(bearer_code(with(bearer_claims(), "exp", "soon")), "invalid_token");
  EXPECT_EQ(bearer_code(with(bearer_claims(), "exp", 1.7e9)), "invalid_token");  // not whole seconds
  // verify (without bearer) still takes a token without exp.
  EXPECT_EQ(verify_code(sign(with(bearer_claims(), "exp", nullptr), kSecret), kSecret, kNow), "");
}

TEST(JwtBearer, ExpiryAllowsTheSkewAndNoMore) {
  EXPECT_EQ(bearer_code(with(bearer_claims(), "exp", kNow - 29)), "");
  EXPECT_EQ(bearer_code(with(bearer_claims(), "exp", kNow - 30)), "token_expired");
  EXPECT_EQ(bearer_code(with(bearer_claims(), "exp", kNow - 3600)), "token_expired");
  EXPECT_EQ(bearer_code(with(bearer_claims(), "exp", kNow - 5), 0), "token_expired");
  EXPECT_EQ(bearer_code(with(bearer_claims(), "exp", kNow - 5), 10), "");
  // A huge unsigned exp does not wrap into the past, nor pass as valid.
  EXPECT_EQ(bearer_code(with(bearer_claims(), "exp", std::numeric_limits<uint64_t>::max())), "invalid_token");
}

TEST(JwtBearer, NotBeforeAndIssuedAtInTheFutureAreRefused) {
  EXPECT_EQ(bearer_code(with(bearer_claims(), "nbf", kNow + 31)), "invalid_token");
  EXPECT_EQ(bearer_code(with(bearer_claims(), "nbf", kNow + 30)), "");
  EXPECT_EQ(bearer_code(with(bearer_claims(), "nbf", kNow - 100)), "");
  EXPECT_EQ(bearer_code(with(bearer_claims(), "nbf", std::numeric_limits<uint64_t>::max())), "invalid_token");
  EXPECT_EQ(bearer_code(with(bearer_claims(), "iat", kNow + 31)), "invalid_token");
  EXPECT_EQ(bearer_code(with(bearer_claims(), "iat", kNow + 30)), "");
  EXPECT_EQ(bearer_code(with(bearer_claims(), "iat", nullptr)), "");  // iat is optional
  EXPECT_EQ(bearer_code(with(bearer_claims(), "iat", "now")), "invalid_token");
}

TEST(JwtBearer, SubjectIsRequired) {
  EXPECT_EQ(bearer_code(with(bearer_claims(), "sub", nullptr)), "invalid_token");
  EXPECT_EQ(bearer_code(with(bearer_claims(), "sub", "")), "invalid_token");
  EXPECT_EQ(bearer_code(with(bearer_claims(), "sub", 7)), "invalid_token");
}

TEST(JwtBearer, SignatureAndAlgorithmComeFirst) {
  // An expired token with a bad signature is invalid, not expired.
  auto expired = sign(with(bearer_claims(), "exp", kNow - 3600), "another-secret");
  EXPECT_THROW(
      {
        try {
          verify_bearer_at(expired, kSecret, kNow);
        } catch (const Error& e) {
          EXPECT_EQ(e.code(), "invalid_token");
          throw;
        }
      },
      Error);
  Parts p = split(sign(bearer_claims(), kSecret));
  for (const char* head : {R"({"alg":"none"})", R"({"alg":"HS512"})", R"({"alg":"RS256"})",
                           R"({"alg":"HS256","crit":["exp"]})"}) {
    Parts q = p;
    q.head = base64url_encode(head);
    EXPECT_THROW(verify_bearer_at(join(q), kSecret, kNow), Error) << head;
  }
  Parts none = p;
  none.head = base64url_encode(R"({"alg":"none"})");
  none.sig.clear();
  EXPECT_THROW(verify_bearer_at(join(none), kSecret, kNow), Error);
  EXPECT_THROW(verify_bearer_at(join(p), kSecret, kNow, -1), std::invalid_argument);
}

TEST(JwtBearer, MessagesNeverContainTheToken) {
  for (const json& claims : {with(bearer_claims(), "exp", nullptr), with(bearer_claims(), "exp", kNow - 3600),
                             with(bearer_claims(), "sub", nullptr), with(bearer_claims(), "nbf", kNow + 3600)}) {
    std::string token = sign(claims, kSecret);
    try {
      verify_bearer_at(token, kSecret, kNow);
      ADD_FAILURE() << claims.dump();
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).find(split(token).sig), std::string::npos);
      EXPECT_EQ(std::string(e.what()).find(split(token).body), std::string::npos);
      EXPECT_EQ(e.detail().find(split(token).sig), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace dine::jwt
