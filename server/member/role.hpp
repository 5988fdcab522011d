#pragma once
// The member role: `POST /v1/login {"openid"}` makes the member on first
// login (race-safe) and returns a JWT (HS256, sub = user id, exp). See
// docs/serve-member.md.
#include "core/runtime/role.hpp"

namespace dine::member {

const runtime::RoleDescriptor& role();

}  // namespace dine::member
