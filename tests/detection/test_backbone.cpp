#include <doctest/doctest.h>
#include <torch/torch.h>

#include "detection/backbone.hpp"

using namespace genbox::detection;

namespace {
double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
}
}  // namespace

// The second implementation: the same batch statistics over valid positions, written as plain
// tensor ops and differentiated by autograd.
TEST_CASE("masked batch norm's hand-written backward equals autograd of its formula, padding included") {
  torch::manual_seed(3);
  torch::Tensor x = torch::randn({3, 4, 6, 5}, torch::kDouble) * 2 + 0.5;
  torch::Tensor valid = torch::ones({3, 1, 6, 5}, torch::kDouble);
  valid.narrow(2, 4, 2).zero_();     // image 0..2: the two bottom rows are padding
  valid[1].narrow(2, 3, 2).zero_();  // image 1: and the two right columns
  torch::Tensor upstream = torch::randn({3, 4, 6, 5}, torch::kDouble);

  MaskedBatchNorm norm(4);
  {
    torch::NoGradGuard no_grad;
    norm->weight.copy_(torch::randn({4}));
    norm->bias.copy_(torch::randn({4}));
  }
  norm->train();
  // The module computes in fp32; the oracle in fp64 on the same values.
  torch::Tensor x32 = x.detach().to(torch::kFloat).requires_grad_();
  torch::Tensor y = norm(x32, valid.to(torch::kFloat));
  (y.to(torch::kDouble) * upstream).sum().backward();

  torch::Tensor xr = x32.detach().to(torch::kDouble).requires_grad_();
  torch::Tensor w = norm->weight.detach().to(torch::kDouble).requires_grad_();
  torch::Tensor b = norm->bias.detach().to(torch::kDouble).requires_grad_();
  torch::Tensor count = valid.sum();
  torch::Tensor mean = (xr * valid).sum({0, 2, 3}) / count;
  torch::Tensor var = ((xr - mean.view({1, -1, 1, 1})).square() * valid).sum({0, 2, 3}) / count;
  torch::Tensor expected =
      ((xr - mean.view({1, -1, 1, 1})) * (var + 1e-5).rsqrt().view({1, -1, 1, 1}) * w.view({1, -1, 1, 1}) +
       b.view({1, -1, 1, 1})) *
      valid;
  (expected * upstream).sum().backward();

  // fp32 arithmetic against fp64: a few float ulps, relative to each tensor's largest entry.
  CHECK(relative_difference(y.to(torch::kDouble), expected.detach()) < 1e-5);
  CHECK(relative_difference(x32.grad().to(torch::kDouble), xr.grad()) < 1e-5);
  CHECK(relative_difference(norm->weight.grad().to(torch::kDouble), w.grad()) < 1e-5);
  CHECK(relative_difference(norm->bias.grad().to(torch::kDouble), b.grad()) < 1e-5);
  CHECK(x32.grad().to(torch::kDouble).mul(1 - valid).abs().max().item<double>() == 0);  // nothing flows into padding
}
