#pragma once
// The member role's section of the topology: "roles": {"member": {...}}, and
// a node's own "config" over it. Every key is optional; unknown keys are errors.
#include "core/config.hpp"

namespace dine::member {

struct MemberConfig {
  int token_ttl_s = 7200;  // how long a login's token is valid

  static MemberConfig parse(config::Reader& r, const MemberConfig& defaults);
};

}  // namespace dine::member
