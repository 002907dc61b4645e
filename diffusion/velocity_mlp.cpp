#include "diffusion/velocity_mlp.hpp"

#include <torch/torch.h>
#include <stdexcept>

namespace genbox::diffusion {

VelocityMlpImpl::VelocityMlpImpl(int64_t dim, int64_t hidden, int64_t layers, int64_t num_classes) {
  if (layers < 1) throw std::invalid_argument("a velocity MLP needs at least one hidden layer");
  conditioning = register_module("conditioning", Conditioning(hidden, num_classes));
  hidden_layers = register_module("hidden_layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < layers; ++i) hidden_layers->push_back(torch::nn::Linear(i == 0 ? dim : hidden, hidden));
  output = register_module("output", torch::nn::Linear(hidden, dim));
}

torch::Tensor VelocityMlpImpl::forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& labels) {
  torch::Tensor c = conditioning(t, labels);
  torch::Tensor h = x;
  for (const auto& layer : *hidden_layers) h = torch::silu(layer->as<torch::nn::LinearImpl>()->forward(h) + c);
  return output(h);
}

}  // namespace genbox::diffusion
