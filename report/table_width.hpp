// The width compare fits its terminal table to.
#pragma once

#include <cstddef>

namespace genbox::report {

// Used when stdout is not a terminal (a pipe, a file, a CI log): wide enough for a useful table,
// narrow enough to read in a log viewer.
inline constexpr std::size_t kDefaultTableWidth = 120;

// The terminal's width when stdout is one (TIOCGWINSZ, else $COLUMNS), else kDefaultTableWidth.
std::size_t stdout_table_width();

}  // namespace genbox::report
