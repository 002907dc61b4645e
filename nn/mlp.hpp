// The feed-forward half of a transformer block.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <string>

namespace genbox::nn {

// "gelu_tanh": fc2(gelu_tanh(fc1(x))), fc1: dim -> hidden (DiT, ViT).
// "swiglu":    fc2(silu(a) * b) with [a, b] = fc1(x), fc1: dim -> 2 * hidden (Shazeer 2020).
class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int64_t dim, int64_t hidden, const std::string& activation);
  torch::Tensor forward(const torch::Tensor& x);

  const std::string& activation() const { return activation_; }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};

 private:
  std::string activation_;
};
TORCH_MODULE(Mlp);

}  // namespace genbox::nn
