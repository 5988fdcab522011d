#pragma once
// `dine serve order`: the order role's descriptor (see core/runtime/role.hpp).
#include "core/runtime/role.hpp"

namespace dine::order {

const runtime::RoleDescriptor& role();

}  // namespace dine::order
