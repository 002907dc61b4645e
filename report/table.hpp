// A plain table and its two renderings: aligned text for the terminal and CSV for spreadsheets;
// and the cuts that make it fit a terminal.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace genbox::report {

// A table entry. `number` keeps the full value, for the CSV and to find the best; `text`, when set,
// is how the entry reads on screen (a wall time as "12m34s"), else the number is shown short.
// An entry with neither is missing.
struct Cell {
  std::string text;
  std::optional<double> number;

  static Cell of(double value) { return {{}, value}; }
  static Cell of(std::string value) { return {std::move(value), std::nullopt}; }
  bool missing() const { return text.empty() && !number; }
};

// Which way is better for a column of numbers; `none` for everything that is not a score.
enum class Better { none, lower, higher };

struct Column {
  std::string title;      // in the terminal and HTML
  std::string csv_title;  // in the CSV header, where a spreadsheet wants plain names
  Better better = Better::none;
};

struct Table {
  std::vector<Column> columns;
  std::vector<std::vector<Cell>> rows;  // each as long as `columns`
};

// A number as people read it: integers whole, others to five significant digits.
std::string format_number(double value);

// How a cell reads on screen; a missing one reads "-".
std::string display_text(const Cell& cell);

// Columns padded to their widest entry, numbers right-aligned, a rule under the header.
std::string render_text(const Table& table);

// RFC 4180: comma-separated, fields quoted when they need it, numbers in shortest round-trip
// form, missing cells empty, lines ending in "\n".
std::string render_csv(const Table& table);

// Terminal columns taken by UTF-8 text: one per code point.
std::size_t display_width(const std::string& text);

// `text` cut to `width` code points, the last of them an ellipsis when anything was cut.
std::string abbreviate(const std::string& text, std::size_t width);

struct FittedTable {
  Table table;
  std::size_t hidden_columns = 0;
};

// The table as render_text() draws it in at most `width` terminal columns: long texts are
// abbreviated, then columns are taken in order while they fit (one too wide is skipped, a later
// narrower one may still fit). The first `kept` columns stay whatever the width, the first of them
// (the run) shortened when they alone are too wide; no line is ever wider than `width`.
FittedTable fit_table(const Table& table, std::size_t width, std::size_t kept);

// The first column (the run), then the columns named in `names` (by title or CSV title), in that
// order; names the table lacks are skipped.
Table select_columns(const Table& table, const std::vector<std::string>& names);

}  // namespace genbox::report
