#pragma once
// The store role: stores by city a page at a time, one store (see
// docs/serve-store.md).
#include "core/runtime/role.hpp"

namespace dine::store {

const runtime::RoleDescriptor& role();

}  // namespace dine::store
