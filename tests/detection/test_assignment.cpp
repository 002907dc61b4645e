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
