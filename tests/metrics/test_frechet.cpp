#include <doctest/doctest.h>

#include <torch/torch.h>
#include <cmath>
#include <vector>

#include "metrics/frechet.hpp"

using namespace genbox::metrics;

namespace {
torch::Tensor random_psd(int64_t n, int64_t rank) {
  torch::Tensor b = torch::randn({n, rank}, torch::kFloat64);
  return b.matmul(b.t());
}
}  // namespace

TEST_CASE("sqrtm_psd squares back to the matrix, including singular ones") {
  torch::manual_seed(0);
  CHECK(torch::allclose(sqrtm_psd(torch::diag(torch::tensor({4.0, 9.0}, torch::kFloat64))),
                        torch::diag(torch::tensor({2.0, 3.0}, torch::kFloat64))));
  for (int64_t rank : {5, 2}) {
    CAPTURE(rank);
    torch::Tensor a = random_psd(5, rank);
    torch::Tensor root = sqrtm_psd(a);
    CHECK(torch::allclose(root.matmul(root), a, 1e-9, 1e-9));
    CHECK(torch::allclose(root, root.t()));
    CHECK(torch::linalg_eigvalsh(root).min().item<double>() > -1e-9);
  }
  // Rounding can leave a PSD matrix with a slightly negative eigenvalue; that must not give NaN.
  torch::Tensor nearly = torch::tensor({{1.0, 1.0}, {1.0, 1.0 - 1e-12}}, torch::kFloat64);
  CHECK_FALSE(sqrtm_psd(nearly).isnan().any().item<bool>());
}

TEST_CASE("the Frechet distance of a set with itself is zero, and a shift adds its squared length") {
  torch::manual_seed(1);
  torch::Tensor a = torch::randn({300, 8}) * torch::linspace(0.1, 3.0, 8);
  CHECK(std::abs(frechet_distance(a, a)) < 1e-8);
  torch::Tensor shift = torch::linspace(-1, 1, 8);
  CHECK(frechet_distance(a, a + shift) == doctest::Approx(shift.square().sum().item<double>()).epsilon(1e-6));
  CHECK(frechet_distance(a, a * 2) > 1.0);
}

TEST_CASE("the Frechet distance of two Gaussians matches the closed forms") {
  // Diagonal covariances: |mu_a - mu_b|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2.
  auto vector = [](std::vector<double> values) { return torch::tensor(values, torch::kFloat64); };
  torch::Tensor mu_a = vector({0.0, 1.0, 2.0}), mu_b = vector({1.0, 1.0, 0.0});
  torch::Tensor var_a = vector({1.0, 4.0, 0.25}), var_b = vector({9.0, 1.0, 0.25});
  double expected = 1 + 4 + (1 - 3) * (1 - 3) + (2 - 1) * (2 - 1) + 0;
  CHECK(frechet_distance_from_moments(mu_a, torch::diag(var_a), mu_b, torch::diag(var_b)) == doctest::Approx(expected));

  // Two 2 x 2 covariances that do not commute: for 2 x 2 PSD M, tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)),
  // and M = S_a^1/2 S_b S_a^1/2 has tr M = tr(S_a S_b) and det M = det S_a det S_b.
  torch::Tensor sa = torch::tensor({{2.0, 0.5}, {0.5, 1.0}}, torch::kFloat64);
  torch::Tensor sb = torch::tensor({{1.0, -0.7}, {-0.7, 3.0}}, torch::kFloat64);
  double tr_ab = sa.matmul(sb).trace().item<double>();
  double det_ab = torch::det(sa).item<double>() * torch::det(sb).item<double>();
  double closed = 3.0 + 4.0 - 2 * std::sqrt(tr_ab + 2 * std::sqrt(det_ab));
  torch::Tensor zero = torch::zeros({2}, torch::kFloat64);
  CHECK(frechet_distance_from_moments(zero, sa, zero, sb) == doctest::Approx(closed).epsilon(1e-10));
  CHECK(frechet_distance_from_moments(zero, sb, zero, sa) == doctest::Approx(closed).epsilon(1e-10));
}

TEST_CASE("the Frechet distance of feature sets uses their means and unbiased covariances") {
  torch::manual_seed(2);
  torch::Tensor a = torch::randn({50, 4}), b = torch::randn({80, 4}) * 1.5 + 0.3;
  double from_moments = frechet_distance_from_moments(a.mean(0), torch::cov(a.t()), b.mean(0), torch::cov(b.t()));
  CHECK(frechet_distance(a, b) == doctest::Approx(from_moments).epsilon(1e-5));
  CHECK_THROWS_AS(frechet_distance(a, torch::randn({10, 3})), std::invalid_argument);
  CHECK_THROWS_AS(frechet_distance(a.narrow(0, 0, 1), b), std::invalid_argument);
}
