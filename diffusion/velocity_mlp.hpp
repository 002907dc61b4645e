// A small velocity network for low-dimensional toy data (the 2D sets), with the same
// conditioning interface as the DiT so that training, sampling and guidance code is shared.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "diffusion/conditioning.hpp"

namespace genbox::diffusion {

// h = SiLU(L_i(h) + c) for `layers` hidden layers starting from h = x, then a linear map back to
// dim. Adding c at every layer, not only the first, keeps the time and class signal from washing
// out in deeper stacks.
class VelocityMlpImpl : public torch::nn::Module {
 public:
  VelocityMlpImpl(int64_t dim, int64_t hidden, int64_t layers, int64_t num_classes);
  // x: [B, dim], t: [B] in [0, 1], labels: [B] int64 in [0, num_classes] (num_classes = null).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& labels);

  int64_t null_class() const { return conditioning->null_class(); }

  Conditioning conditioning{nullptr};
  torch::nn::ModuleList hidden_layers{nullptr};
  torch::nn::Linear output{nullptr};
};
TORCH_MODULE(VelocityMlp);

}  // namespace genbox::diffusion
