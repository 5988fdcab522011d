#pragma once
// `dine serve testkit`: a role for the runtime's own tests, and the worked
// example of docs/writing-a-role.md. It shows every part of a descriptor (a
// typed config section, a required and a degradable dependency, routes that
// use the request context, a background component, node state) and gives
// tests handles on the runtime: request deadlines, a component that fails
// its first starts. (A worker blocked on purpose is the runtime's
// POST /test/wedge, on any role with DINE_TEST_ROUTES=1.)
//
// Its test routes must never reach a deployment: the role is hidden (left out of --help and of the roles
// `dine serve` lists) and `dine serve` refuses it unless the environment has
// DINE_TEST_ROLES=1.
#include "core/runtime/role.hpp"

namespace dine::testkit {

const runtime::RoleDescriptor& role();

}  // namespace dine::testkit
