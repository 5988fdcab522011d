#pragma once
// `dine serve testkit`: a role for the runtime's own tests, and the worked
// example of docs/writing-a-role.md. It shows every part of a descriptor (a
// typed config section, a required and a degradable dependency, routes that
// use the request context, a background component, node state) and gives
// tests handles on the runtime: request deadlines, a worker blocked on
// purpose, a component that fails its first starts.
//
// Its fault routes (POST /test/wedge blocks a worker thread) must never reach
// a deployment: the role is hidden (left out of --help and of the roles
// `dine serve` lists) and `dine serve` refuses it unless the environment has
// DINE_TEST_ROLES=1.
#include "core/runtime/role.hpp"

namespace dine::testkit {

const runtime::RoleDescriptor& role();

}  // namespace dine::testkit
