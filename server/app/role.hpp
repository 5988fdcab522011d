#pragma once
// The app role (`dine serve app`): the public API of the mini-program under
// /api/v1, behind the gateway; bearer tokens; prices computed on the server;
// calls the basic services (docs/serve-app.md).
#include "core/runtime/role.hpp"

namespace dine::app {

const runtime::RoleDescriptor& role();

}  // namespace dine::app
