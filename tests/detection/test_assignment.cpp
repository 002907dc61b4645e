#include <doctest/doctest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "detection/assignment.hpp"

using namespace genbox::detection;

namespace {
// The least total cost over every way to pair min(rows, columns) rows and columns, by recursion
// over the rows of the shorter side.
double brute_force_cost(const std::vector<double>& cost, int64_t rows, int64_t columns) {
  bool transpose = rows > columns;
  int64_t n = transpose ? columns : rows, m = transpose ? rows : columns;
  auto at = [&](int64_t i, int64_t j) { return transpose ? cost[j * columns + i] : cost[i * columns + j]; };
  std::vector<char> used(m, 0);
  double best = std::numeric_limits<double>::infinity();
  std::function<void(int64_t, double)> search = [&](int64_t i, double sum) {
    if (i == n) {
      best = std::min(best, sum);
      return;
    }
    for (int64_t j = 0; j < m; ++j) {
      if (used[j]) continue;
      used[j] = 1;
      search(i + 1, sum + at(i, j));
      used[j] = 0;
    }
  };
  search(0, 0.0);
  return best;
}

// A valid assignment: min(rows, columns) pairs, rows ascending, no row or column twice, and a
// cost that is the sum of its cells.
void check_valid(const Assignment& a, const std::vector<double>& cost, int64_t rows, int64_t columns) {
  REQUIRE(a.rows.size() == static_cast<size_t>(std::min(rows, columns)));
  REQUIRE(a.columns.size() == a.rows.size());
  std::set<int64_t> seen_rows(a.rows.begin(), a.rows.end()), seen_columns(a.columns.begin(), a.columns.end());
  CHECK(seen_rows.size() == a.rows.size());
  CHECK(seen_columns.size() == a.columns.size());
  CHECK(std::is_sorted(a.rows.begin(), a.rows.end()));
  double sum = 0;
  for (size_t k = 0; k < a.rows.size(); ++k) {
    CHECK((a.rows[k] >= 0 && a.rows[k] < rows && a.columns[k] >= 0 && a.columns[k] < columns));
    sum += cost[a.rows[k] * columns + a.columns[k]];
  }
  CHECK(a.cost == doctest::Approx(sum));
}
}  // namespace

TEST_CASE("linear assignment equals brute force on random square and rectangular matrices") {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> uniform(-3.0, 5.0);
  std::uniform_int_distribution<int> small(1, 6), level(0, 3);
  for (int trial = 0; trial < 300; ++trial) {
    int64_t rows = small(rng), columns = small(rng);
    if (trial < 50) columns = rows;
    std::vector<double> cost(rows * columns);
    // A third of the trials draw from a few levels only, which makes many optima tie.
    bool coarse = trial % 3 == 0;
    for (double& c : cost) c = coarse ? level(rng) : uniform(rng);
    Assignment a = linear_sum_assignment(cost, rows, columns);
    CAPTURE(trial);
    CAPTURE(rows);
    CAPTURE(columns);
    check_valid(a, cost, rows, columns);
    CHECK(a.cost == doctest::Approx(brute_force_cost(cost, rows, columns)).epsilon(1e-12));
  }
}

TEST_CASE("linear assignment: a hand case, full ties, one row, one column and empty sides") {
  // The greedy choice (0.0 at [0, 0]) forces 10 + ...; the optimum crosses over.
  std::vector<double> cost = {0, 1, 1, 10};
  Assignment a = linear_sum_assignment(cost, 2, 2);
  CHECK(a.columns == std::vector<int64_t>{1, 0});
  CHECK(a.cost == 2.0);

  std::vector<double> ties(4 * 6, 0.5);
  Assignment tied = linear_sum_assignment(ties, 4, 6);
  check_valid(tied, ties, 4, 6);
  CHECK(tied.cost == doctest::Approx(2.0));

  Assignment row = linear_sum_assignment(std::vector<double>{3, -1, 2, -1.5, 7}, 1, 5);
  CHECK(row.rows == std::vector<int64_t>{0});
  CHECK(row.columns == std::vector<int64_t>{3});
  Assignment column = linear_sum_assignment(std::vector<double>{3, -1, 2, -1.5, 7}, 5, 1);
  CHECK(column.rows == std::vector<int64_t>{3});
  CHECK(column.columns == std::vector<int64_t>{0});

  // No targets: nothing to assign, from either side.
  CHECK(linear_sum_assignment(std::vector<double>{}, 7, 0).rows.empty());
  CHECK(linear_sum_assignment(std::vector<double>{}, 0, 3).rows.empty());
  CHECK(linear_sum_assignment(torch::zeros({100, 0})).rows.empty());
}

TEST_CASE("linear assignment on a tensor equals the vector form, rows ascending when transposed") {
  torch::manual_seed(3);
  torch::Tensor cost = torch::rand({9, 4}, torch::kFloat64);
  Assignment from_tensor = linear_sum_assignment(cost);
  std::vector<double> values(cost.data_ptr<double>(), cost.data_ptr<double>() + cost.numel());
  Assignment from_vector = linear_sum_assignment(values, 9, 4);
  CHECK(from_tensor.rows == from_vector.rows);
  CHECK(from_tensor.columns == from_vector.columns);
  check_valid(from_tensor, values, 9, 4);
  CHECK(from_tensor.cost == doctest::Approx(brute_force_cost(values, 9, 4)));
  // A float32 tensor works too.
  CHECK(linear_sum_assignment(cost.to(torch::kFloat)).rows == from_vector.rows);
}

TEST_CASE("linear assignment rejects NaN and infinite costs, naming the caller's context") {
  std::vector<double> cost = {0, 1, std::nan(""), 2};
  std::string message;
  try {
    linear_sum_assignment(cost, 2, 2, "image 3");
  } catch (const std::invalid_argument& e) {
    message = e.what();
  }
  CHECK(message.rfind("image 3: ", 0) == 0);
  CHECK(message.find("[1, 0]") != std::string::npos);
  CHECK(message.find("nan") != std::string::npos);
  cost[2] = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(linear_sum_assignment(cost, 2, 2), std::invalid_argument);
  CHECK_THROWS_AS(linear_sum_assignment(torch::full({2, 2}, -INFINITY), "image 0"), std::invalid_argument);
  CHECK_THROWS_AS(linear_sum_assignment(std::vector<double>{1, 2, 3}, 2, 2), std::invalid_argument);
}

namespace {
// The scalar search RowAssigner vectorises, as linear_sum_assignment ran it before: the pending
// columns in a list, each step scanning it in order. Its tie-breaking is the one to keep.
std::vector<int64_t> scalar_search(const std::vector<double>& cost, int64_t rows, int64_t columns) {
  const double infinity = std::numeric_limits<double>::infinity();
  std::vector<double> u(rows, 0), v(columns, 0), distance(columns);
  std::vector<int64_t> column_of_row(rows, -1), row_of_column(columns, -1), predecessor(columns);
  std::vector<char> row_visited(rows), column_done(columns);
  std::vector<int64_t> pending;
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
    u[start] += path_length;
    for (int64_t i = 0; i < rows; ++i)
      if (row_visited[i] && i != start) u[i] += path_length - distance[column_of_row[i]];
    for (int64_t j = 0; j < columns; ++j)
      if (column_done[j]) v[j] -= path_length - distance[j];
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

TEST_CASE("RowAssigner gives the scalar search's assignment, ties included, with AVX2 and portably") {
  CHECK(RowAssigner(true).avx2() == static_cast<bool>(__builtin_cpu_supports("avx2")));
  CHECK_FALSE(RowAssigner(false).avx2());
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> uniform(-3.0, 5.0);
  std::uniform_int_distribution<int> level(0, 3);
  // One solver of each kind across all problems, as the matcher reuses its own.
  RowAssigner vectorised(true), portable(false);
  for (int trial = 0; trial < 2000; ++trial) {
    CAPTURE(trial);
    // Few rows and many columns as in the matcher, small ones for brute force, and every
    // column count modulo 4 (the scan's tail).
    const bool small = trial % 2 == 0;
    const int64_t rows = std::uniform_int_distribution<int64_t>(1, small ? 6 : 20)(rng);
    const int64_t columns = rows + std::uniform_int_distribution<int64_t>(0, small ? 3 : 110)(rng);
    CAPTURE(rows);
    CAPTURE(columns);
    // Rows apart by a stride wider than the row, the gap NaN: it must never be read.
    const int64_t stride = columns + trial % 3;
    std::vector<double> cost(rows * columns), strided(rows * stride, std::nan(""));
    const int kind = trial % 4;  // continuous, a few levels, all equal, duplicated columns
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < columns; ++j) {
        double& c = cost[i * columns + j];
        if (kind == 0 || (kind == 3 && j < 3))
          c = uniform(rng);
        else if (kind == 1)
          c = level(rng);
        else if (kind == 2)
          c = 0.5;
        else
          c = cost[i * columns + j % 3];
        strided[i * stride + j] = c;
      }
    const std::vector<int64_t> expected = scalar_search(cost, rows, columns);
    CHECK(vectorised.solve(strided.data(), rows, columns, stride) == expected);
    CHECK(portable.solve(strided.data(), rows, columns, stride) == expected);
    if (small) {
      double total = 0;
      for (int64_t i = 0; i < rows; ++i) total += cost[i * columns + expected[i]];
      CHECK(total == doctest::Approx(brute_force_cost(cost, rows, columns)).epsilon(1e-12));
    }
  }
}
