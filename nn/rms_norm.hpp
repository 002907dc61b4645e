// Root-mean-square normalisation (Zhang & Sennrich 2019) over the last dimension.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace genbox::nn {

// y = x / sqrt(mean(x^2) + eps) * scale. The statistics are taken in fp32 whatever x's dtype,
// and y comes back in x's dtype so that it can meet other bf16 tensors (in attention, say).
class RMSNormImpl : public torch::nn::Module {
 public:
  explicit RMSNormImpl(int64_t dim, double eps = 1e-6);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor scale;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

}  // namespace genbox::nn
