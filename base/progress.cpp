#include "base/progress.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace genbox {

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "?";
  if (seconds < 60) return fmt::format("{:.1f}s", seconds);
  // Rounded before it is split into units, so 3599.6 s reads 1h00m rather than 59m60s.
  auto whole = static_cast<int64_t>(std::llround(seconds));
  if (whole < 3600) return fmt::format("{}m{:02}s", whole / 60, whole % 60);
  return fmt::format("{}h{:02}m", whole / 3600, whole % 3600 / 60);
}

int terminal_columns() {
  for (int fd : {STDOUT_FILENO, STDERR_FILENO}) {
    winsize size{};
    if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  }
  if (const char* columns = std::getenv("COLUMNS")) {
    int value = std::atoi(columns);
    if (value > 0) return value;
  }
  return 80;
}

std::string fit_to_width(const std::string& line, int columns) {
  const size_t room = columns > 1 ? size_t(columns - 1) : 1;
  auto code_points = [](const std::string& text) {
    return size_t(std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xc0) != 0x80; }));
  };
  std::string fitted = line;
  for (size_t cut; code_points(fitted) > room && (cut = fitted.rfind(" | ")) != std::string::npos;) fitted.resize(cut);
  // Cut at a code point boundary: the first `room` lead bytes and their continuations.
  size_t kept = 0, end = 0;
  for (; end < fitted.size(); ++end)
    if ((fitted[end] & 0xc0) != 0x80 && kept++ == room) break;
  fitted.resize(end);
  return fitted;
}

Progress::Progress(int64_t first_step, int64_t total_steps, std::string noun)
    : first_step_(first_step),
      total_steps_(total_steps),
      noun_(std::move(noun)),
      interactive_(isatty(fileno(stdout))),
      started_(std::chrono::steady_clock::now()),
      last_draw_(started_) {}

double Progress::steps_per_second(int64_t step) const {
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  return seconds > 0 ? double(step - first_step_) / seconds : 0.0;
}

std::string Progress::line(int64_t step, const std::string& metrics) const {
  double rate = steps_per_second(step);
  double eta = rate > 0 ? double(total_steps_ - step) / rate : -1;
  int width = static_cast<int>(std::to_string(total_steps_).size());
  const std::string fields = fmt::format("{} {:>{}}/{} | {:.2f} {}/s | eta {}", noun_, step, width, total_steps_, rate,
                                         noun_ == "step" ? "it" : noun_, format_duration(eta));
  return metrics.empty() ? fields : fields + " | " + metrics;
}

void Progress::update(int64_t step, const std::string& metrics) {
  if (!interactive_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && step < total_steps_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  std::fprintf(stdout, "\r\033[K%s", fit_to_width(line(step, metrics), terminal_columns()).c_str());
  std::fflush(stdout);
  drawn_ = true;
}

void Progress::finish_line() {
  if (interactive_ && drawn_) std::fputc('\n', stdout);
  drawn_ = false;
}

}  // namespace genbox
