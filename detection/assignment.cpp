#include "detection/assignment.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace genbox::detection {

namespace {
constexpr uint64_t kExponentBits = 0x7ff0000000000000ull;

// Solves the case rows <= columns: every row gets a column. u and v are the dual potentials;
// after each augmentation the reduced costs cost[i][j] - u[i] - v[j] are non-negative and zero
// on assigned cells, which is what lets the next search run Dijkstra.
std::vector<int64_t> assign_rows(const std::vector<double>& cost, int64_t rows, int64_t columns) {
  const double infinity = std::numeric_limits<double>::infinity();
  std::vector<double> u(rows, 0), v(columns, 0), distance(columns);
  std::vector<int64_t> column_of_row(rows, -1), row_of_column(columns, -1), predecessor(columns);
  std::vector<char> row_visited(rows), column_done(columns);
  std::vector<int64_t> pending;  // columns not yet settled in the current search

  for (int64_t start = 0; start < rows; ++start) {
    std::fill(distance.begin(), distance.end(), infinity);
    std::fill(row_visited.begin(), row_visited.end(), 0);
    std::fill(column_done.begin(), column_done.end(), 0);
    pending.resize(columns);
    for (int64_t j = 0; j < columns; ++j) pending[j] = j;

    double path_length = 0;
    int64_t row = start, sink = -1;
    while (sink < 0) {
      row_visited[row] = 1;
      const double* cost_row = &cost[row * columns];
      size_t nearest = 0;
      double nearest_distance = infinity;
      for (size_t p = 0; p < pending.size(); ++p) {
        int64_t j = pending[p];
        double through_row = path_length + cost_row[j] - u[row] - v[j];
        if (through_row < distance[j]) {
          distance[j] = through_row;
          predecessor[j] = row;
        }
        // Among equally near columns a free one ends the search soonest.
        if (distance[j] < nearest_distance ||
            (distance[j] == nearest_distance && row_of_column[j] < 0 && row_of_column[pending[nearest]] >= 0)) {
          nearest_distance = distance[j];
          nearest = p;
        }
      }
      int64_t column = pending[nearest];
      pending[nearest] = pending.back();
      pending.pop_back();
      path_length = nearest_distance;
      column_done[column] = 1;
      if (row_of_column[column] < 0)
        sink = column;
      else
        row = row_of_column[column];
    }

    // Keep reduced costs non-negative for the next search and zero along the new matching.
    u[start] += path_length;
    for (int64_t i = 0; i < rows; ++i)
      if (row_visited[i] && i != start) u[i] += path_length - distance[column_of_row[i]];
    for (int64_t j = 0; j < columns; ++j)
      if (column_done[j]) v[j] -= path_length - distance[j];

    // Flip the alternating path back from the free column to the starting row.
    for (int64_t column = sink;;) {
      int64_t row_on_path = predecessor[column];
      row_of_column[column] = row_on_path;
      std::swap(column_of_row[row_on_path], column);
      if (row_on_path == start) break;
    }
  }
  return column_of_row;
}
}  // namespace

Assignment linear_sum_assignment(const std::vector<double>& cost, int64_t rows, int64_t columns,
                                 const std::string& context) {
  const std::string prefix = context.empty() ? "" : context + ": ";
  if (rows < 0 || columns < 0 || static_cast<int64_t>(cost.size()) != rows * columns)
    throw std::invalid_argument(
        fmt::format("{}linear assignment got {} costs for a {} x {} matrix", prefix, cost.size(), rows, columns));
  // A double is infinite or NaN when its exponent bits are all ones: one integer pass that
  // vectorises, then a search for the culprit only when there is one.
  uint64_t non_finite = 0;
  for (double c : cost) {
    uint64_t bits;
    std::memcpy(&bits, &c, sizeof bits);
    non_finite |= static_cast<uint64_t>((bits & kExponentBits) == kExponentBits);
  }
  for (size_t k = 0; k < cost.size() && non_finite; ++k)
    if (!std::isfinite(cost[k]))
      throw std::invalid_argument(fmt::format("{}linear assignment cost [{}, {}] is {}; costs must be finite", prefix,
                                              static_cast<int64_t>(k) / columns, static_cast<int64_t>(k) % columns,
                                              cost[k]));

  Assignment result;
  if (rows == 0 || columns == 0) return result;
  if (rows <= columns) {
    std::vector<int64_t> column_of_row = assign_rows(cost, rows, columns);
    for (int64_t i = 0; i < rows; ++i) {
      result.rows.push_back(i);
      result.columns.push_back(column_of_row[i]);
    }
  } else {
    // Solve the transpose so that the shorter side is the one whose every member is assigned.
    std::vector<double> transposed(cost.size());
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < columns; ++j) transposed[j * rows + i] = cost[i * columns + j];
    std::vector<int64_t> row_of_column = assign_rows(transposed, columns, rows);
    std::vector<int64_t> column_of_row(rows, -1);
    for (int64_t j = 0; j < columns; ++j) column_of_row[row_of_column[j]] = j;
    for (int64_t i = 0; i < rows; ++i) {
      if (column_of_row[i] < 0) continue;
      result.rows.push_back(i);
      result.columns.push_back(column_of_row[i]);
    }
  }
  for (size_t k = 0; k < result.rows.size(); ++k) result.cost += cost[result.rows[k] * columns + result.columns[k]];
  return result;
}

Assignment linear_sum_assignment(const torch::Tensor& cost, const std::string& context) {
  if (cost.dim() != 2)
    throw std::invalid_argument(fmt::format("{}linear assignment needs a 2D cost matrix, got {} dimensions",
                                            context.empty() ? "" : context + ": ", cost.dim()));
  torch::Tensor values = cost.detach().to(torch::kCPU, torch::kDouble).contiguous();
  const double* data = values.data_ptr<double>();
  return linear_sum_assignment(std::vector<double>(data, data + values.numel()), cost.size(0), cost.size(1), context);
}

}  // namespace genbox::detection
