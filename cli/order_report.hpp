#pragma once
// Shared by `dine sim orders` and `dine demo`: run the order load against a
// topology's order nodes with a progress bar, and print its report.
#include "core/topology.hpp"
#include "sim/order_load.hpp"

namespace dine::cli {

sim::OrderLoadConfig order_load_config(const Topology& topo, const std::vector<std::string>& nodes);
sim::OrderLoadReport run_with_progress(const sim::OrderLoadConfig& cfg);
void print_order_report(sim::OrderLoadReport& r);

}  // namespace dine::cli
