// The live progress line: fitted to the terminal's width so that \r redraws one line.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>

#include "base/progress.hpp"

using namespace genbox;

TEST_CASE("a progress line drops whole fields from the end, then is cut, to fit one column short") {
  const std::string line = "step  120/3000 | 12.34 it/s | eta 3m05s | loss 1.234 | bpd 6.298";
  CHECK(fit_to_width(line, 200) == line);
  CHECK(fit_to_width(line, int(line.size()) + 1) == line);
  CHECK(fit_to_width(line, int(line.size())) == "step  120/3000 | 12.34 it/s | eta 3m05s | loss 1.234");
  CHECK(fit_to_width(line, 59) == "step  120/3000 | 12.34 it/s | eta 3m05s | loss 1.234");
  CHECK(fit_to_width(line, 30) == "step  120/3000 | 12.34 it/s");
  CHECK(fit_to_width(line, 12) == "step  120/3");
  CHECK(fit_to_width(line, 1) == "s");
  // Widths count code points, and a cut never splits one.
  CHECK(fit_to_width("loss \xc3\xa9\xc3\xa9\xc3\xa9", 8) == "loss \xc3\xa9\xc3\xa9");
}

TEST_CASE("without a terminal the width is $COLUMNS, else 80") {
  if (isatty(STDOUT_FILENO) || isatty(STDERR_FILENO)) return;  // a terminal's own width wins
  const char* saved = std::getenv("COLUMNS");
  std::string kept = saved ? saved : "";
  setenv("COLUMNS", "59", 1);
  CHECK(terminal_columns() == 59);
  setenv("COLUMNS", "wide", 1);
  CHECK(terminal_columns() == 80);
  unsetenv("COLUMNS");
  CHECK(terminal_columns() == 80);
  if (saved) setenv("COLUMNS", kept.c_str(), 1);
}

TEST_CASE("a progress line names what it counts, and its rate in that unit") {
  // No time has passed at the first count: the rate is 0 and the time left unknown.
  CHECK(Progress(5, 100).line(5, "loss 1.5") == "step   5/100 | 0.00 it/s | eta ? | loss 1.5");
  CHECK(Progress(0, 50000, "images").line(0, "") == "images     0/50000 | 0.00 images/s | eta ?");
}
