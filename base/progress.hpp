// Progress of a long loop (training steps, images decoded): a live single line on a terminal,
// plain lines otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace genbox {

class Progress {
 public:
  // `noun` names what is counted ("step": "step 10/100 | 2.00 it/s"; "images": "images 10/100 |
  // 2.00 images/s").
  Progress(int64_t first_step, int64_t total_steps, std::string noun = "step");

  // Redraws the live line (at most ~10 times a second) when stdout is a terminal, fitted to its
  // width at each redraw (the window may be resized).
  void update(int64_t step, const std::string& metrics);
  // The same facts as one plain line, for the log.
  std::string line(int64_t step, const std::string& metrics) const;
  // Ends the live line so that the next print starts on a fresh one.
  void finish_line();
  bool interactive() const { return interactive_; }
  int64_t total() const { return total_steps_; }

 private:
  double steps_per_second(int64_t step) const;
  int64_t first_step_, total_steps_;
  std::string noun_;
  bool interactive_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point started_, last_draw_;
};

// The width of the terminal that stdout or stderr is, else $COLUMNS, else 80.
int terminal_columns();

// `line` shortened to fit in `columns - 1` characters (code points): filling the last column
// would make the terminal wrap, and \r would then return to the wrapped part only, leaving
// every redraw on a new line. Whole " | " fields go from the end first (the first one stays),
// then what is left is cut.
std::string fit_to_width(const std::string& line, int columns);

// "1h02m", "3m05s", "12.3s"; "?" when unknown.
std::string format_duration(double seconds);

}  // namespace genbox
