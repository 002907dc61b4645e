#include "report/table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace genbox::report {
namespace {

// Terminal columns taken by UTF-8 text: one per code point, which holds for the names and
// values that show up here (no wide or combining characters in run names in practice).
std::size_t display_width(const std::string& text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
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
  std::vector<std::size_t> widths;
  for (const Column& column : table.columns) widths.push_back(display_width(column.title));
  for (const auto& row : table.rows)
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], display_width(display_text(row[c])));

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
