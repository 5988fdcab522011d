#pragma once
// Shared by `dine sim orders` and `dine demo`: run the order load against a
// topology's order nodes with a progress bar, and print its report.
#include "core/topology.hpp"
#include "sim/order_load.hpp"
#include "sim/prewarm.hpp"
#include "sim/user_journey.hpp"

namespace dine::cli {

sim::OrderLoadConfig order_load_config(const Topology& topo, const std::vector<std::string>& nodes);
sim::OrderLoadReport run_with_progress(const sim::OrderLoadConfig& cfg);
void print_order_report(sim::OrderLoadReport& r);

// dine sim users: the gateways of the topology (or those named), users through them.
sim::JourneyConfig journey_config(const Topology& topo, const std::vector<std::string>& gateways);
sim::JourneyReport run_journeys_with_progress(const sim::JourneyConfig& cfg);
void print_journey_report(sim::JourneyReport& r);

// dine prewarm menu's walk with its default sizes, every menu node; files
// into `export_dir` when not empty. Throws Failure (exit 2) on a topology
// without menu or store nodes.
sim::PrewarmConfig prewarm_config(const Topology& topo, const std::string& export_dir);

}  // namespace dine::cli
