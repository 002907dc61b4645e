#include "common/nn/position.hpp"

#include <cmath>
#include <stdexcept>
#include <torch/torch.h>

namespace genbox::nn {

namespace {
// [positions, dim]: sin then cos of positions * omega_k, omega_k = 10000^(-k / (dim/2)).
torch::Tensor sincos_1d(int64_t dim, const torch::Tensor& positions) {
  torch::Tensor omega = torch::pow(10000.0, -torch::arange(dim / 2, torch::kFloat64) / (dim / 2.0));
  torch::Tensor angles = torch::outer(positions, omega);
  return torch::cat({angles.sin(), angles.cos()}, 1);
}
}  // namespace

torch::Tensor sincos_2d(int64_t dim, int64_t grid_h, int64_t grid_w) {
  if (dim % 4 != 0)
    throw std::invalid_argument("a 2D sin-cos embedding needs a width divisible by 4, got " + std::to_string(dim));
  torch::Tensor rows = torch::arange(grid_h, torch::kFloat64).repeat_interleave(grid_w);
  torch::Tensor columns = torch::arange(grid_w, torch::kFloat64).repeat({grid_h});
  return torch::cat({sincos_1d(dim / 2, columns), sincos_1d(dim / 2, rows)}, 1).to(torch::kFloat);
}

torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim, double max_period) {
  int64_t half = dim / 2;
  torch::Tensor time = t.is_floating_point() ? t : t.to(torch::kFloat);
  torch::Tensor freqs = torch::exp(-std::log(max_period) * torch::arange(half, time.options()) / half);
  torch::Tensor angles = time.unsqueeze(1) * freqs.unsqueeze(0);
  torch::Tensor embedding = torch::cat({angles.cos(), angles.sin()}, 1);
  if (dim % 2 == 1) embedding = torch::cat({embedding, torch::zeros({t.size(0), 1}, time.options())}, 1);
  return embedding;
}

}  // namespace genbox::nn
