#include "nn/mlp.hpp"

#include "nn/gelu.hpp"

#include <torch/torch.h>
#include <stdexcept>

namespace genbox::nn {

MlpImpl::MlpImpl(int64_t dim, int64_t hidden, const std::string& activation) : activation_(activation) {
  if (activation == "gelu_tanh") {
    fc1 = register_module("fc1", torch::nn::Linear(dim, hidden));
  } else if (activation == "swiglu") {
    fc1 = register_module("fc1", torch::nn::Linear(dim, 2 * hidden));
  } else {
    throw std::invalid_argument("unknown MLP activation '" + activation + "' (gelu_tanh, swiglu)");
  }
  fc2 = register_module("fc2", torch::nn::Linear(hidden, dim));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = fc1(x);
  if (activation_ == "gelu_tanh") return fc2(gelu_tanh(h));
  auto halves = h.chunk(2, -1);
  return fc2(torch::silu(halves[0]) * halves[1]);
}

}  // namespace genbox::nn
