#include "nn/rms_norm.hpp"

#include <torch/torch.h>

namespace genbox::nn {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  scale = register_parameter("scale", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  torch::Tensor wide = x.dtype() == torch::kFloat16 || x.dtype() == torch::kBFloat16 ? x.to(torch::kFloat) : x;
  torch::Tensor normed = wide * torch::rsqrt(wide.square().mean(-1, /*keepdim=*/true) + eps_);
  return (normed * scale).to(x.scalar_type());
}

}  // namespace genbox::nn
