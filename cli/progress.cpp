#include "cli/progress.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>

namespace dine::cli {

int terminal_width() {
  winsize w{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 0) return std::max<int>(80, w.ws_col);
  if (const char* c = std::getenv("COLUMNS")) return std::max(80, std::atoi(c));
  return 80;
}

bool use_colour() { return ::isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR"); }
namespace {
long now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}
}  // namespace

ProgressBar::ProgressBar(std::string label, int total)
    : label_(std::move(label)), total_(total), tty_(isatty(STDERR_FILENO) != 0), start_ms_(now_ms()) {}

void ProgressBar::update(int done, const std::string& extra) {
  long now = now_ms();
  if (!tty_ && now - last_print_ms_ < 3000 && done < total_) return;
  last_print_ms_ = now;
  double frac = total_ > 0 ? static_cast<double>(done) / total_ : 1.0;
  int width = 30, filled = static_cast<int>(frac * width);
  double secs = (now - start_ms_) / 1000.0;
  double rate = secs > 0 ? done / secs : 0;
  std::string bar = std::string(static_cast<std::size_t>(filled), '#') + std::string(static_cast<std::size_t>(width - filled), '.');
  fmt::print(stderr, "{}{:<10} [{}] {:>6}/{:<6} {:>7.0f}/s {}{}", tty_ ? "\r" : "", label_, bar, done, total_, rate,
             extra, tty_ ? "\033[K" : "\n");
  std::fflush(stderr);
}

void ProgressBar::finish(const std::string& extra) {
  last_print_ms_ = 0;
  update(total_, extra);
  if (tty_) fmt::print(stderr, "\n");
}

}  // namespace dine::cli
