#pragma once
// Terminal helpers, and a one-line progress bar on stderr (redrawn in place on a terminal; a line
// every few seconds otherwise, so logs of CI runs stay readable).
#include <string>

namespace dine::cli {

// Standard output's width: the terminal's, else $COLUMNS, else 80 (never less).
int terminal_width();
// Colours on standard output: a terminal, and NO_COLOR unset.
bool use_colour();

class ProgressBar {
 public:
  ProgressBar(std::string label, int total);
  void update(int done, const std::string& extra = "");
  void finish(const std::string& extra = "");

 private:
  std::string label_;
  int total_;
  bool tty_;
  long last_print_ms_ = 0;
  long start_ms_;
};

}  // namespace dine::cli
