#pragma once
// The terminal board of `dine health`: the root-cause line, the layers top to
// bottom (gateway, app, services, queues, data), one cell per node (state and
// key figure, "← X" when affected by root cause X), then the timeline.
// Colours only when asked (a TTY without NO_COLOR); fits the width it is given
// (80 columns at least), wrapping a layer's cells.
#include <string>

#include "monitor/monitor.hpp"

namespace dine::monitor {

std::string render_board(const Snapshot& s, const std::string& topology, int width, bool color,
                         std::size_t timeline_lines = 8);

}  // namespace dine::monitor
