#include <doctest/doctest.h>

#include <torch/torch.h>
#include <cmath>

#include "nn/rms_norm.hpp"

using genbox::nn::RMSNorm;

TEST_CASE("RMSNorm output has unit RMS times its scale over the last dimension") {
  torch::manual_seed(0);
  RMSNorm norm(6);
  // Rows of very different magnitudes, as in per-head queries and keys: [B, heads, T, head_dim].
  torch::Tensor x = torch::randn({2, 3, 4, 6}, torch::kFloat64) * torch::tensor({0.01, 1.0, 100.0}).view({1, 3, 1, 1});
  norm->to(torch::kFloat64);
  // eps only matters for the smallest rows: the RMS is sqrt(ms / (ms + eps)) with ms = mean(x^2).
  torch::Tensor mean_square = x.square().mean(-1);
  torch::Tensor expected_rms = (mean_square / (mean_square + 1e-6)).sqrt();
  CHECK(torch::allclose(norm(x).square().mean(-1).sqrt(), expected_rms, 0, 1e-12));
  CHECK(torch::allclose(expected_rms.select(1, 2), torch::ones({2, 4}, torch::kFloat64), 0, 1e-9));

  torch::Tensor scale = torch::tensor({0.5, -2.0, 1.0, 3.0, 0.25, 1.5}, torch::kFloat64);
  {
    torch::NoGradGuard no_grad;
    norm->scale.copy_(scale);
  }
  torch::Tensor y = norm(x);
  CHECK(torch::allclose((y / scale).square().mean(-1).sqrt(), expected_rms, 0, 1e-12));
  // Elementwise against the formula for one row.
  torch::Tensor row = x[1][2][3];
  double r = std::sqrt(row.square().mean().item<double>() + 1e-6);
  for (int64_t i = 0; i < 6; ++i) {
    double expected = row[i].item<double>() / r * scale[i].item<double>();
    CHECK(y[1][2][3][i].item<double>() == doctest::Approx(expected).epsilon(1e-9));
  }
}

TEST_CASE("RMSNorm keeps zero rows finite and returns bf16 for bf16 input") {
  RMSNorm norm(4);
  CHECK(torch::equal(norm(torch::zeros({2, 4})), torch::zeros({2, 4})));
  torch::manual_seed(1);
  torch::Tensor x = torch::randn({3, 4});
  torch::Tensor low = norm(x.to(torch::kBFloat16));
  CHECK((low.scalar_type() == torch::kBFloat16));
  CHECK(torch::allclose(low.to(torch::kFloat), norm(x), 0, 2e-2));
}

// The CPU float32 kernel against the same formula in float64 ATen ops: values and both
// gradients, on a strided (permuted) input as attention hands it over.
TEST_CASE("RMSNorm's float32 CPU kernel matches the float64 formula in value and gradients") {
  // 32: whole vector steps, as the DiT's heads; 13: a row with a scalar tail after them.
  for (int64_t dim : {32, 13}) {
    CAPTURE(dim);
    torch::manual_seed(2);
    RMSNorm norm(dim);
    {
      torch::NoGradGuard no_grad;
      norm->scale.uniform_(-2, 2);
    }
    torch::Tensor base = torch::randn({5, 9, 2, dim}) * torch::linspace(0.01, 10, 9).view({1, 9, 1, 1});
    torch::Tensor x = base.permute({0, 2, 1, 3}).requires_grad_(true);  // [5, 2, 9, dim], not contiguous
    torch::Tensor g = torch::randn({5, 2, 9, dim});
    (norm(x) * g).sum().backward();

    torch::Tensor x64 = x.detach().to(torch::kFloat64).requires_grad_(true);
    torch::Tensor w64 = norm->scale.detach().to(torch::kFloat64).requires_grad_(true);
    torch::Tensor y64 = x64 * torch::rsqrt(x64.square().mean(-1, true) + 1e-6) * w64;
    (y64 * g.to(torch::kFloat64)).sum().backward();
    CHECK(torch::allclose(norm(x.detach()).to(torch::kFloat64), y64.detach(), 1e-5, 1e-5));
    CHECK(torch::allclose(x.grad().to(torch::kFloat64), x64.grad(), 1e-4, 1e-4));
    CHECK(torch::allclose(norm->scale.grad().to(torch::kFloat64), w64.grad(), 1e-4, 1e-4));
  }
}
