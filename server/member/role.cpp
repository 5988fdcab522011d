#include "server/member/role.hpp"

#include <memory>

#include <nlohmann/json.hpp>

#include "core/http/router.hpp"
#include "core/jwt.hpp"
#include "core/pg/pool.hpp"
#include "server/member/config.hpp"
#include "server/member/login.hpp"

namespace dine::member {
namespace {

using nlohmann::json;

// The member of this openid, made if new. Two concurrent first logins: one
// inserts, the other waits on the unique index and then updates the same row,
// so both get the one user_id. xmax = 0 only on the row this statement made.
constexpr pg::Statement kLogin{
    "member_login",
    "INSERT INTO members (openid) VALUES ($1)"
    " ON CONFLICT (openid) DO UPDATE SET last_login_at = now()"
    " RETURNING user_id, (xmax = 0) AS created"};

struct Site {
  pg::Pool* db;
  const MemberConfig* config;
  std::string secret;
};

Task<http::Response> login(std::shared_ptr<const Site> s, http::Request& req) {
  std::string openid = parse_login(req.body);
  pg::Params p = pg::params(openid);
  pg::Result r = co_await s->db->execute(req.ctx, kLogin, p);
  const int64_t user_id = r.int64(0, "user_id");
  const bool created = r.text(0, "created") == "t";
  std::string token = jwt::sign({{"sub", std::to_string(user_id)}}, s->secret, s->config->token_ttl_s);
  json body = {{"user_id", user_id}, {"token", std::move(token)}, {"expires_in", s->config->token_ttl_s},
               {"created", created}};
  co_return http::Response::json(created ? 201 : 200, body);
}

void setup(runtime::WorkerContext& w) {
  auto site = std::make_shared<const Site>(Site{&w.postgres("db"), &w.config<MemberConfig>(), w.topology().secret});
  w.router().post("/v1/login", [site](http::Request& req) { return login(site, req); });
}

}  // namespace

const runtime::RoleDescriptor& role() {
  static const runtime::RoleDescriptor d = [] {
    runtime::RoleDescriptor r;
    r.name = "member";
    r.summary = "members: login makes the member on first use and returns a JWT";
    r.dependencies = {runtime::postgres("db", "member", runtime::Need::Required)};
    r.config = runtime::typed_config<MemberConfig>();
    r.setup = setup;
    return r;
  }();
  return d;
}

}  // namespace dine::member
