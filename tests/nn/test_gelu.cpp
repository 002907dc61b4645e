#include <doctest/doctest.h>

#include <torch/torch.h>

#include "nn/gelu.hpp"

using namespace genbox::nn;

// Against ATen's own tanh-approximated GELU (the second implementation), in value and gradient,
// over the tails and the bend, at a length that leaves a scalar remainder after the vector loop.
TEST_CASE("gelu_tanh equals ATen's tanh GELU in value and gradient") {
  if (!fused_gelu_available()) MESSAGE("no AVX2 here: gelu_tanh is ATen's op and this compares it with itself");
  torch::manual_seed(4);
  torch::Tensor x = torch::cat({torch::linspace(-12, 12, 2001), torch::randn({70003}) * 3});
  torch::Tensor ours_in = x.clone().requires_grad_(true), aten_in = x.clone().requires_grad_(true);
  torch::Tensor ours = gelu_tanh(ours_in), aten = torch::gelu(aten_in, "tanh");
  CHECK(torch::allclose(ours, aten, 1e-5, 1e-6));
  torch::Tensor g = torch::randn_like(x);
  (ours * g).sum().backward();
  (aten * g).sum().backward();
  CHECK(torch::allclose(ours_in.grad(), aten_in.grad(), 1e-5, 1e-5));
  // The large tails: the identity above, zero below, with no inf or NaN from exp's overflow.
  torch::Tensor tails = gelu_tanh(torch::tensor({-200.0f, -40.0f, 40.0f, 200.0f}));
  CHECK(torch::equal(tails, torch::tensor({-0.0f, -0.0f, 40.0f, 200.0f})));
}

TEST_CASE("gelu_tanh gives the same values on one thread and on two") {
  torch::Tensor x = torch::randn({300000});
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  torch::Tensor one = gelu_tanh(x);
  torch::set_num_threads(2);
  torch::Tensor two = gelu_tanh(x);
  torch::set_num_threads(threads);
  CHECK(torch::equal(one, two));
}
