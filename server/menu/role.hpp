#pragma once
// The menu role (`dine serve menu`): menus and products per store, read
// cache-aside from redis-cache with single-flight loads (docs/serve-menu.md).
#include "core/runtime/role.hpp"

namespace dine::menu {

const runtime::RoleDescriptor& role();

}  // namespace dine::menu
