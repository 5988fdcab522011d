#include "server/member/config.hpp"

namespace dine::member {

MemberConfig MemberConfig::parse(config::Reader& r, const MemberConfig& d) {
  MemberConfig c;
  c.token_ttl_s = r.integer("token_ttl_s", d.token_ttl_s, 60, 30 * 86400);
  r.reject_unknown();
  return c;
}

}  // namespace dine::member
