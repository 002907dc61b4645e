#include <doctest/doctest.h>

#include <torch/torch.h>
#include <cmath>

#include "nn/mlp.hpp"

using genbox::nn::Mlp;

namespace {
torch::Tensor linear(const torch::nn::Linear& l, const torch::Tensor& x) {
  return torch::matmul(x, l->weight.t()) + l->bias;
}
}  // namespace

TEST_CASE("the GELU (tanh) MLP applies the tanh approximation between two linear maps") {
  torch::manual_seed(0);
  Mlp mlp(4, 16, "gelu_tanh");
  mlp->to(torch::kFloat64);
  CHECK(mlp->fc1->weight.size(0) == 16);
  torch::Tensor x = torch::randn({3, 4}, torch::kFloat64);
  torch::Tensor h = linear(mlp->fc1, x);
  torch::Tensor gelu = 0.5 * h * (1 + torch::tanh(std::sqrt(2 / M_PI) * (h + 0.044715 * h.pow(3))));
  CHECK(torch::allclose(mlp(x), linear(mlp->fc2, gelu), 1e-10, 1e-10));
}

TEST_CASE("the SwiGLU MLP gates one half of the hidden layer with SiLU of the other") {
  torch::manual_seed(1);
  Mlp mlp(4, 6, "swiglu");
  mlp->to(torch::kFloat64);
  CHECK(mlp->fc1->weight.size(0) == 12);
  CHECK(mlp->fc2->weight.size(1) == 6);
  torch::Tensor x = torch::randn({3, 4}, torch::kFloat64);
  torch::Tensor h = linear(mlp->fc1, x);
  torch::Tensor a = h.narrow(1, 0, 6), b = h.narrow(1, 6, 6);
  CHECK(torch::allclose(mlp(x), linear(mlp->fc2, a / (1 + torch::exp(-a)) * b), 1e-10, 1e-10));
  CHECK_THROWS_AS(Mlp(4, 6, "relu"), std::invalid_argument);
}
