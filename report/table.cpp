#include "report/table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace genbox::report {
namespace {

// The longest text a cell keeps in a fitted table: a config value of a few hundred characters
// (an array, a path) would otherwise take the whole line.
constexpr std::size_t kMaxCellWidth = 32;

bool is_continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

std::vector<std::size_t> column_widths(const Table& table) {
  std::vector<std::size_t> widths;
  for (const Column& column : table.columns) widths.push_back(display_width(column.title));
  for (const auto& row : table.rows)
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], display_width(display_text(row[c])));
  return widths;
}

// Keeps only the columns listed, in that order.
Table keep_columns(const Table& table, const std::vector<std::size_t>& columns) {
  Table kept;
  for (std::size_t c : columns) kept.columns.push_back(table.columns[c]);
  for (const auto& row : table.rows) {
    std::vector<Cell>& out = kept.rows.emplace_back();
    for (std::size_t c : columns) out.push_back(row[c]);
  }
  return kept;
}

// Abbreviates the title and text entries of column `c` to `width`; numbers keep every digit.
void narrow_column(Table& table, std::size_t c, std::size_t width) {
  table.columns[c].title = abbreviate(table.columns[c].title, width);
  for (auto& row : table.rows)
    if (!row[c].number && !row[c].text.empty()) row[c].text = abbreviate(row[c].text, width);
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + '"';
}

}  // namespace

// One column per code point holds for the names and values that show up here (no wide or
// combining characters in run names in practice).
std::size_t display_width(const std::string& text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return !is_continuation_byte(c); }));
}

std::string abbreviate(const std::string& text, std::size_t width) {
  if (display_width(text) <= width) return text;
  if (width == 0) return {};
  std::size_t end = 0;
  for (std::size_t points = 0; end < text.size(); ++end)
    if (!is_continuation_byte(text[end]) && points++ == width - 1) break;
  return text.substr(0, end) + "\u2026";
}

FittedTable fit_table(const Table& table, std::size_t width, std::size_t kept) {
  FittedTable fitted{table, 0};
  Table& t = fitted.table;
  for (std::size_t c = 0; c < t.columns.size(); ++c) narrow_column(t, c, kMaxCellWidth);
  std::vector<std::size_t> widths = column_widths(t);
  kept = std::min(kept, t.columns.size());

  std::vector<std::size_t> shown;
  std::size_t used = 0;
  auto cost = [&](std::size_t c) { return widths[c] + (shown.empty() ? 0 : 2); };
  for (std::size_t c = 0; c < kept; ++c) {
    used += cost(c);
    shown.push_back(c);
  }
  // The kept columns alone are too wide: the first gives up what it can, then the last go.
  if (used > width && !shown.empty()) {
    std::size_t spare = std::min(used - width, widths[0] > 6 ? widths[0] - 6 : 0);
    widths[0] -= spare;
    used -= spare;
    narrow_column(t, 0, widths[0]);
    while (used > width && shown.size() > 1) {
      used -= widths[shown.back()] + 2;
      shown.pop_back();
    }
    if (used > width) narrow_column(t, 0, width);
  }
  for (std::size_t c = kept; c < t.columns.size(); ++c)
    if (used + cost(c) <= width) {
      used += cost(c);
      shown.push_back(c);
    }
  fitted.hidden_columns = t.columns.size() - shown.size();
  t = keep_columns(t, shown);
  return fitted;
}

Table select_columns(const Table& table, const std::vector<std::string>& names) {
  std::vector<std::size_t> columns = {0};
  for (const std::string& name : names)
    for (std::size_t c = 1; c < table.columns.size(); ++c)
      if ((table.columns[c].title == name || table.columns[c].csv_title == name) &&
          std::find(columns.begin(), columns.end(), c) == columns.end())
        columns.push_back(c);
  return table.columns.empty() ? table : keep_columns(table, columns);
}

std::string format_number(double value) {
  if (std::isfinite(value) && value == std::round(value) && std::fabs(value) < 1e15)
    return fmt::format("{}", static_cast<long long>(value));
  return fmt::format("{:.5g}", value);
}

std::string display_text(const Cell& cell) {
  if (!cell.text.empty()) return cell.text;
  if (cell.number) return format_number(*cell.number);
  return "-";
}

std::string render_text(const Table& table) {
  std::vector<std::size_t> widths = column_widths(table);

  std::string out;
  auto append_cell = [&](std::size_t c, const std::string& text, bool right_aligned) {
    if (c > 0) out += "  ";
    std::string padding(widths[c] - display_width(text), ' ');
    out += right_aligned ? padding + text : text + padding;
  };
  auto end_line = [&] {
    out.erase(out.find_last_not_of(' ') + 1);
    out += '\n';
  };
  for (std::size_t c = 0; c < table.columns.size(); ++c) append_cell(c, table.columns[c].title, false);
  end_line();
  for (std::size_t c = 0; c < table.columns.size(); ++c) append_cell(c, std::string(widths[c], '-'), false);
  end_line();
  for (const auto& row : table.rows) {
    for (std::size_t c = 0; c < row.size(); ++c) append_cell(c, display_text(row[c]), row[c].number.has_value());
    end_line();
  }
  return out;
}

std::string render_csv(const Table& table) {
  std::string out;
  auto append_line = [&](const std::vector<std::string>& fields) {
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (i > 0) out += ',';
      out += csv_field(fields[i]);
    }
    out += '\n';
  };
  std::vector<std::string> fields;
  for (const Column& column : table.columns) fields.push_back(column.csv_title);
  append_line(fields);
  for (const auto& row : table.rows) {
    fields.clear();
    for (const Cell& cell : row) fields.push_back(cell.number ? fmt::format("{}", *cell.number) : cell.text);
    append_line(fields);
  }
  return out;
}

}  // namespace genbox::report
