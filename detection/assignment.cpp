#include "detection/assignment.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace genbox::detection {

namespace {
constexpr uint64_t kExponentBits = 0x7ff0000000000000ull;
constexpr double kInfinity = std::numeric_limits<double>::infinity();

// Four lanes in GCC's vector extension: the same source compiles to AVX2 in relax_avx2() and to
// pairs of SSE2 operations in relax_portable(), with the same IEEE result in every lane.
typedef double Doubles __attribute__((vector_size(32)));
typedef int64_t Longs __attribute__((vector_size(32)));
// The helpers below return such vectors by value (and take them by reference); they are always
// inlined, so which calling convention (AVX or SSE) would return them never matters.
#pragma GCC diagnostic ignored "-Wpsabi"

[[gnu::always_inline]] inline Doubles load_doubles(const double* p) {
  Doubles v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
[[gnu::always_inline]] inline Longs load_longs(const int64_t* p) {
  Longs v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
[[gnu::always_inline]] inline void store(double* p, const Doubles& v) { std::memcpy(p, &v, sizeof v); }
[[gnu::always_inline]] inline void store(int64_t* p, const Longs& v) { std::memcpy(p, &v, sizeof v); }

// The nearest pending column after a relaxation, and how many pending columns are exactly that
// near: the search needs the order of its pending list only to break such ties.
struct Nearest {
  double distance;
  int64_t column, ties;
};

// One step of the Dijkstra search: every pending column's path length through `row` (reached
// at path_length, potential u_row) replaces the column's own when shorter, as in
// path_length + cost[row][j] - u[row] - v[j] < distance[j].
[[gnu::always_inline]] inline Nearest relax(const double* cost_row, double path_length, double u_row, int64_t row,
                                            int64_t columns, const double* v, const int64_t* done, double* distance,
                                            int64_t* predecessor) {
  const Doubles infinity = {kInfinity, kInfinity, kInfinity, kInfinity};
  const Longs rows = {row, row, row, row}, one = {1, 1, 1, 1}, four = {4, 4, 4, 4};
  // Per lane: the nearest column seen, and how many seen are that near.
  Doubles lane_distance = infinity;
  Longs lane_column = {-1, -1, -1, -1}, lane_ties = {0, 0, 0, 0}, column = {0, 1, 2, 3};
  int64_t j = 0;
  for (; j + 4 <= columns; j += 4, column += four) {
    const Doubles through = ((path_length + load_doubles(cost_row + j)) - u_row) - load_doubles(v + j);
    const Longs pending = ~load_longs(done + j);
    Doubles d = load_doubles(distance + j);
    const Longs shorter = (through < d) & pending;
    d = shorter ? through : d;
    store(distance + j, d);
    store(predecessor + j, shorter ? rows : load_longs(predecessor + j));
    const Doubles candidate = pending ? d : infinity;
    const Longs nearer = candidate < lane_distance, as_near = (candidate == lane_distance) & pending;
    lane_distance = nearer ? candidate : lane_distance;
    lane_column = nearer ? column : lane_column;
    lane_ties = nearer ? one : (as_near ? lane_ties + one : lane_ties);
  }
  Nearest nearest{kInfinity, -1, 0};
  for (; j < columns; ++j) {
    if (done[j]) continue;
    const double through = ((path_length + cost_row[j]) - u_row) - v[j];
    if (through < distance[j]) {
      distance[j] = through;
      predecessor[j] = row;
    }
    if (distance[j] < nearest.distance)
      nearest = {distance[j], j, 1};
    else if (distance[j] == nearest.distance)
      ++nearest.ties;
  }
  for (int lane = 0; lane < 4; ++lane) {
    if (lane_distance[lane] < nearest.distance)
      nearest = {lane_distance[lane], lane_column[lane], lane_ties[lane]};
    else if (lane_distance[lane] == nearest.distance)
      nearest.ties += lane_ties[lane];
  }
  return nearest;
}

[[gnu::target("avx2")]] Nearest relax_avx2(const double* cost_row, double path_length, double u_row, int64_t row,
                                           int64_t columns, const double* v, const int64_t* done, double* distance,
                                           int64_t* predecessor) {
  return relax(cost_row, path_length, u_row, row, columns, v, done, distance, predecessor);
}

Nearest relax_portable(const double* cost_row, double path_length, double u_row, int64_t row, int64_t columns,
                       const double* v, const int64_t* done, double* distance, int64_t* predecessor) {
  return relax(cost_row, path_length, u_row, row, columns, v, done, distance, predecessor);
}
}  // namespace

RowAssigner::RowAssigner(bool avx2) : avx2_(avx2 && __builtin_cpu_supports("avx2")) {}

// Solves the case rows <= columns: every row gets a column. u and v are the dual potentials;
// after each augmentation the reduced costs cost[i][j] - u[i] - v[j] are non-negative and zero
// on assigned cells, which is what lets the next search run Dijkstra.
const std::vector<int64_t>& RowAssigner::solve(const double* cost, int64_t rows, int64_t columns,
                                               int64_t row_stride) {
  u_.assign(rows, 0);
  v_.assign(columns, 0);
  distance_.resize(columns);
  predecessor_.resize(columns);
  done_.assign(columns, 0);
  column_of_row_.assign(rows, -1);
  row_of_column_.assign(columns, -1);
  auto relax_row = avx2_ ? relax_avx2 : relax_portable;

  for (int64_t start = 0; start < rows; ++start) {
    std::fill(distance_.begin(), distance_.end(), kInfinity);
    settled_.clear();
    double path_length = 0;
    int64_t row = start, sink = -1;
    while (sink < 0) {
      const Nearest nearest = relax_row(cost + row * row_stride, path_length, u_[row], row, columns, v_.data(),
                                        done_.data(), distance_.data(), predecessor_.data());
      const int64_t column =
          nearest.ties == 1 && nearest.distance < kInfinity ? nearest.column : nearest_in_pending_order();
      done_[column] = -1;
      settled_.push_back(column);
      path_length = distance_[column];
      if (row_of_column_[column] < 0)
        sink = column;
      else
        row = row_of_column_[column];
    }

    // Keep reduced costs non-negative for the next search and zero along the new matching: the
    // rows reached are those of the settled columns other than the sink.
    u_[start] += path_length;
    for (int64_t column : settled_) {
      if (column != sink) u_[row_of_column_[column]] += path_length - distance_[column];
      v_[column] -= path_length - distance_[column];
      done_[column] = 0;
    }

    // Flip the alternating path back from the free column to the starting row.
    for (int64_t column = sink;;) {
      int64_t row_on_path = predecessor_[column];
      row_of_column_[column] = row_on_path;
      std::swap(column_of_row_[row_on_path], column);
      if (row_on_path == start) break;
    }
  }
  return column_of_row_;
}

// Ties between equally near pending columns go the way of the scalar search this solver
// vectorises, which kept the pending columns in a list (settling one moved the last into its
// place): the first free column in that list's order, else its first column. The list is
// replayed from the columns settled so far.
int64_t RowAssigner::nearest_in_pending_order() {
  const int64_t columns = static_cast<int64_t>(distance_.size());
  pending_.resize(columns);
  slot_.resize(columns);
  std::iota(pending_.begin(), pending_.end(), 0);
  std::iota(slot_.begin(), slot_.end(), 0);
  for (int64_t column : settled_) {
    const int64_t place = slot_[column], last = pending_.back();
    pending_[place] = last;
    slot_[last] = place;
    pending_.pop_back();
  }
  size_t nearest = 0;
  double nearest_distance = kInfinity;
  for (size_t p = 0; p < pending_.size(); ++p) {
    const int64_t j = pending_[p];
    if (distance_[j] < nearest_distance ||
        (distance_[j] == nearest_distance && row_of_column_[j] < 0 && row_of_column_[pending_[nearest]] >= 0)) {
      nearest_distance = distance_[j];
      nearest = p;
    }
  }
  return pending_[nearest];
}

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
  RowAssigner solver;
  if (rows <= columns) {
    const std::vector<int64_t>& column_of_row = solver.solve(cost.data(), rows, columns, columns);
    for (int64_t i = 0; i < rows; ++i) {
      result.rows.push_back(i);
      result.columns.push_back(column_of_row[i]);
    }
  } else {
    // Solve the transpose so that the shorter side is the one whose every member is assigned.
    std::vector<double> transposed(cost.size());
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < columns; ++j) transposed[j * rows + i] = cost[i * columns + j];
    const std::vector<int64_t>& row_of_column = solver.solve(transposed.data(), columns, rows, rows);
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
