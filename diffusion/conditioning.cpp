#include "diffusion/conditioning.hpp"

#include <torch/torch.h>
#include <stdexcept>

#include "common/device.hpp"
#include "nn/position.hpp"

namespace genbox::diffusion {

ConditioningImpl::ConditioningImpl(int64_t width, int64_t num_classes, int64_t frequency_dim)
    : num_classes_(num_classes), frequency_dim_(frequency_dim) {
  if (num_classes < 0) throw std::invalid_argument("num_classes must be >= 0");
  time_mlp = register_module("time_mlp", torch::nn::Sequential(torch::nn::Linear(frequency_dim, width),
                                                               torch::nn::SiLU(), torch::nn::Linear(width, width)));
  class_embedding = register_module("class_embedding", torch::nn::Embedding(num_classes + 1, width));
  // DiT's initialisation: small normal weights for both embeddings, zero biases.
  torch::NoGradGuard no_grad;
  for (auto& p : time_mlp->parameters()) {
    if (p.dim() == 2) {
      p.normal_(0, 0.02);
    } else {
      p.zero_();
    }
  }
  class_embedding->weight.normal_(0, 0.02);
}

torch::Tensor ConditioningImpl::forward(const torch::Tensor& t, const torch::Tensor& labels) {
  torch::Tensor frequencies;
  {
    // t * 1000 and its sines in bf16 would keep 8 bits: t = 0.5 and 0.501 would embed alike.
    Fp32Island fp32(t.device());
    frequencies = nn::timestep_embedding(t.to(class_embedding->weight.scalar_type()) * 1000.0, frequency_dim_);
  }
  return time_mlp->forward(frequencies) + class_embedding(labels);
}

}  // namespace genbox::diffusion
