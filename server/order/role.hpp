#pragma once
// `dine serve order`: wires the order role onto the runtime's workers.
#include <functional>

#include "core/runtime/runtime.hpp"

namespace dine::order {

// Returns the per-worker setup; state shared by the workers (the id generator)
// lives in the returned closure.
std::function<void(runtime::Worker&)> make_role(const Topology& topo, const Node& node);

}  // namespace dine::order
