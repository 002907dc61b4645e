#include <doctest/doctest.h>

#include <torch/torch.h>

#include <cmath>

#include "metrics/kernel_distance.hpp"

using namespace genbox::metrics;

namespace {
// The unbiased MMD^2 by its definition, pair by pair, in plain doubles.
double brute_force(const torch::Tensor& a, const torch::Tensor& b) {
  const int64_t m = a.size(0), d = a.size(1);
  auto k = [&](const torch::Tensor& p, int64_t i, const torch::Tensor& q, int64_t j) {
    double dot = 0;
    for (int64_t c = 0; c < d; ++c) dot += p[i][c].item<double>() * q[j][c].item<double>();
    return std::pow(dot / double(d) + 1, 3);
  };
  double xx = 0, yy = 0, xy = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < m; ++j) {
      if (i != j) xx += k(a, i, a, j), yy += k(b, i, b, j);
      xy += k(a, i, b, j);
    }
  return (xx + yy) / double(m * (m - 1)) - 2 * xy / double(m * m);
}
}  // namespace

TEST_CASE("the kernel distance is the unbiased MMD^2 of the cubic kernel, pair by pair") {
  torch::manual_seed(4);
  const torch::Tensor a = torch::randn({9, 5}, torch::kFloat64), b = torch::randn({9, 5}, torch::kFloat64) + 0.3;
  CHECK(kernel_distance_of(a, b) == doctest::Approx(brute_force(a, b)).epsilon(1e-12));
  // Subsets as large as the sets hold every row, in some order: the estimate does not depend on
  // the order, so every subset gives the same value and the spread is 0.
  const KernelDistance all = kernel_distance(a.to(torch::kFloat), b.to(torch::kFloat), 5, 1000, 7);
  CHECK(all.subset_size == 9);
  CHECK(all.mean ==
        doctest::Approx(brute_force(a.to(torch::kFloat).to(torch::kDouble), b.to(torch::kFloat).to(torch::kDouble)))
            .epsilon(1e-9));
  CHECK(all.stddev < 1e-12);
}

TEST_CASE("the kernel distance tells apart sets from the same and from different distributions") {
  torch::manual_seed(5);
  const torch::Tensor a = torch::randn({600, 16}), same = torch::randn({600, 16}),
                      other = torch::randn({600, 16}) * 1.5;
  const KernelDistance near = kernel_distance(a, same, 20, 200, 1), far = kernel_distance(a, other, 20, 200, 1);
  CHECK(near.subsets == 20);
  CHECK(near.subset_size == 200);
  // Unbiased: about zero for one distribution, within a few of its spreads.
  CHECK(std::abs(near.mean) < 4 * near.stddev + 1e-3);
  CHECK(far.mean > 10 * near.stddev);
  CHECK(far.stddev > 0);
  // The same seed draws the same subsets.
  CHECK(kernel_distance(a, other, 20, 200, 1).mean == far.mean);
}
