// What the report tests read off a table: its column titles, and how wide its text came out.
#pragma once

#include <algorithm>
#include <cstddef>
#include <sstream>
#include <string>
#include <vector>

#include "report/table.hpp"

namespace genbox::report::table_reading {

inline std::vector<std::string> titles(const Table& table) {
  std::vector<std::string> out;
  for (const Column& column : table.columns) out.push_back(column.title);
  return out;
}

// The display width of the text's widest line.
inline std::size_t widest_line(const std::string& text) {
  std::size_t widest = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) widest = std::max(widest, display_width(line));
  return widest;
}

}  // namespace genbox::report::table_reading
