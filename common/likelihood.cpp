#include "common/likelihood.hpp"

#include <torch/torch.h>
#include <cmath>

namespace genbox {

torch::Tensor dequantize(const torch::Tensor& pixels, at::Generator generator) {
  torch::Tensor noise = at::rand(pixels.sizes(), generator).to(pixels.device());
  return (pixels.to(torch::kFloat32) + noise) / 256.0;
}

torch::Tensor bits_per_dim(const torch::Tensor& log_prob_unit_cube, int64_t dim) {
  double d = static_cast<double>(dim);
  return (-log_prob_unit_cube + d * std::log(256.0)) / (d * std::log(2.0));
}

}  // namespace genbox
