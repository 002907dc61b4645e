#include <doctest/doctest.h>

#include <torch/torch.h>
#include <cmath>

#include "diffusion/likelihood.hpp"

using namespace genbox::diffusion;

namespace {
torch::Tensor rademacher(std::vector<int64_t> shape) { return torch::randint(0, 2, shape, torch::kFloat64) * 2 - 1; }

// log N(x; mu, cov) per row.
torch::Tensor gaussian_log_density(const torch::Tensor& x, const torch::Tensor& mu, const torch::Tensor& cov) {
  torch::Tensor centred = x - mu;
  torch::Tensor mahalanobis = (centred.matmul(torch::linalg_inv(cov)) * centred).sum(1);
  return -0.5 * mahalanobis - 0.5 * torch::logdet(cov) - 0.5 * x.size(1) * std::log(2 * M_PI);
}

// The rectified flow from N(mu, R diag(s^2) R^T) to N(0, I): in the rotated basis each
// coordinate follows v = -m + sigma_t'/sigma_t (x - (1 - t) m), sigma_t^2 = (1 - t)^2 s^2 + t^2.
struct RotatedGaussianFlow {
  torch::Tensor mu, s, rotation;
  torch::Tensor covariance() const { return rotation.matmul(torch::diag(s.square())).matmul(rotation.t()); }
  torch::Tensor velocity(const torch::Tensor& x, const torch::Tensor& t) const {
    torch::Tensor tb = t.unsqueeze(1);
    torch::Tensor rate = (tb - (1 - tb) * s.square()) / ((1 - tb).square() * s.square() + tb.square());
    torch::Tensor rotated = (x - (1 - tb) * mu).matmul(rotation);
    return -mu + (rate * rotated).matmul(rotation.t());
  }
};

torch::Tensor rotation_2d(double angle) {
  return torch::tensor({{std::cos(angle), -std::sin(angle)}, {std::sin(angle), std::cos(angle)}}, torch::kFloat64);
}
}  // namespace

TEST_CASE("the exact divergence matches the analytic trace of the Jacobian") {
  torch::manual_seed(0);
  torch::Tensor a = torch::randn({4, 4}, torch::kFloat64), bias = torch::randn({4}, torch::kFloat64);
  torch::Tensor x = torch::randn({3, 4}, torch::kFloat64);
  auto linear = [&](const torch::Tensor& in) { return in.matmul(a.t()); };
  CHECK(torch::allclose(exact_divergence(linear, x), a.trace().expand({3})));
  // tanh(W x + b): d f_i / d x_i = (1 - tanh^2(z_i)) W_ii.
  auto layer = [&](const torch::Tensor& in) { return torch::tanh(in.matmul(a.t()) + bias); };
  torch::Tensor z = x.matmul(a.t()) + bias;
  CHECK(torch::allclose(exact_divergence(layer, x), ((1 - torch::tanh(z).square()) * a.diagonal()).sum(1)));
  // Inputs of any shape are flattened per example.
  auto square = [](const torch::Tensor& in) { return in.square(); };
  torch::Tensor images = torch::randn({2, 1, 3, 3}, torch::kFloat64);
  CHECK(torch::allclose(exact_divergence(square, images), 2 * images.flatten(1).sum(1)));
}

TEST_CASE("Hutchinson's estimate is probe^T A probe and averages to tr(A) with the known variance") {
  torch::manual_seed(1);
  torch::Tensor a = torch::randn({4, 4}, torch::kFloat64);
  auto linear = [&](const torch::Tensor& in) { return in.matmul(a.t()); };
  int64_t n = 4000;
  torch::Tensor x = torch::randn({n, 4}, torch::kFloat64), probe = rademacher({n, 4});
  torch::Tensor estimate = hutchinson_divergence(linear, x, probe);
  CHECK(torch::allclose(estimate, (probe.matmul(a.t()) * probe).sum(1)));
  // z^T A z = tr A + sum_{i<j} (A_ij + A_ji) z_i z_j, the products z_i z_j uncorrelated signs.
  torch::Tensor symmetric = a + a.t();
  double variance = symmetric.triu(1).square().sum().item<double>();
  double standard_error = std::sqrt(variance / n);
  CHECK(std::abs(estimate.mean().item<double>() - a.trace().item<double>()) < 4 * standard_error);
  CHECK(estimate.var().item<double>() == doctest::Approx(variance).epsilon(0.1));
}

TEST_CASE("the ODE log-likelihood of a Gaussian-to-Gaussian flow is the Gaussian log density") {
  torch::manual_seed(2);
  // Axis-aligned: the Jacobian is diagonal, so a Rademacher probe gives the exact trace.
  RotatedGaussianFlow flow{torch::tensor({1.0, -0.5, 0.0}, torch::kFloat64),
                           torch::tensor({0.5, 3.0, 1.2}, torch::kFloat64), torch::eye(3, torch::kFloat64)};
  VelocityFn v = [&](const torch::Tensor& x, const torch::Tensor& t) { return flow.velocity(x, t); };
  torch::Tensor x0 = flow.mu + flow.s * torch::randn({16, 3}, torch::kFloat64);
  torch::Tensor exact = gaussian_log_density(x0, flow.mu, flow.covariance());
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(3);
  torch::Tensor log_p;
  {
    // The caller's no-grad mode must not stop the divergence's vector-Jacobian products.
    torch::NoGradGuard no_grad;
    log_p = ode_log_likelihood(v, x0, 128, gen);
  }
  CHECK(log_p.sizes() == torch::IntArrayRef({16}));
  CHECK((log_p - exact).abs().max().item<double>() < 1e-3);
  CHECK((ode_log_likelihood(v, x0, 4, gen) - exact).abs().max().item<double>() > 1e-3);
}

TEST_CASE("with a non-diagonal Jacobian the ODE log-likelihood is unbiased over probes") {
  torch::manual_seed(4);
  RotatedGaussianFlow flow{torch::tensor({0.5, -1.0}, torch::kFloat64), torch::tensor({0.4, 1.5}, torch::kFloat64),
                           rotation_2d(0.6)};
  VelocityFn v = [&](const torch::Tensor& x, const torch::Tensor& t) { return flow.velocity(x, t); };
  // Many copies of one point, each with its own fixed probe z. The rate matrix R D_t R^T integrates
  // to -R diag(log s) R^T = M, so each estimate is the exact value + 2 M_01 z_0 z_1.
  int64_t n = 2000;
  torch::Tensor x0 = torch::tensor({{0.9, -0.2}}, torch::kFloat64).expand({n, 2}).contiguous();
  double exact = gaussian_log_density(x0.narrow(0, 0, 1), flow.mu, flow.covariance()).item<double>();
  torch::Tensor m = -flow.rotation.matmul(torch::diag(flow.s.log())).matmul(flow.rotation.t());
  double spread = 2 * std::abs(m[0][1].item<double>());
  REQUIRE(spread > 0.1);
  torch::Tensor log_p = ode_log_likelihood(v, x0, 64, at::make_generator<at::CPUGeneratorImpl>(5));
  CHECK(((log_p - exact).abs() - spread).abs().max().item<double>() < 2e-3);
  CHECK(std::abs(log_p.mean().item<double>() - exact) < 4 * spread / std::sqrt(n));
  // More probes per trajectory shrink the spread.
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(6);
  torch::Tensor averaged = ode_log_likelihood(v, x0.narrow(0, 0, 200), 64, gen, /*probes=*/16);
  CHECK((averaged - exact).abs().mean().item<double>() < spread / 2);
}
