#include "nn/position.hpp"

#include <torch/torch.h>
#include <cmath>
#include <stdexcept>

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

torch::Tensor sine_position_2d(const torch::Tensor& padding_mask, int64_t dim, double temperature) {
  if (dim % 4 != 0)
    throw std::invalid_argument("a 2D sine position encoding needs a width divisible by 4, got " + std::to_string(dim));
  if (padding_mask.dim() != 3 || padding_mask.scalar_type() != torch::kBool)
    throw std::invalid_argument("sine_position_2d expects a [B, H, W] bool padding mask");
  torch::Tensor valid = padding_mask.logical_not().to(torch::kFloat);
  torch::Tensor rows = valid.cumsum(1), columns = valid.cumsum(2);
  // The last row (column) of the cumulative sum holds the valid height (width); the epsilon
  // keeps fully padded columns (rows) at zero instead of 0/0.
  const double eps = 1e-6, scale = 2 * M_PI;
  rows = rows / (rows.narrow(1, rows.size(1) - 1, 1) + eps) * scale;
  columns = columns / (columns.narrow(2, columns.size(2) - 1, 1) + eps) * scale;

  int64_t half = dim / 2;
  torch::Tensor k = torch::arange(half / 2, valid.options());
  torch::Tensor inverse_frequency = torch::pow(temperature, -2.0 * k / half);
  auto encode = [&](const torch::Tensor& positions) {
    torch::Tensor angles = positions.unsqueeze(-1) * inverse_frequency;  // [B, H, W, half / 2]
    return torch::stack({angles.sin(), angles.cos()}, -1).flatten(3);    // sin, cos interleaved
  };
  torch::Tensor encoding = torch::cat({encode(rows), encode(columns)}, -1) * valid.unsqueeze(-1);
  return encoding.permute({0, 3, 1, 2}).contiguous();
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
