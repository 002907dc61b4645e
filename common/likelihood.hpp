// The likelihood conventions every experiment shares, so NICE and the rectified flow report
// bits/dim on one axis: 8-bit pixels dequantized uniformly into [0,1].
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

namespace genbox {

// Uniform dequantization of uint8 pixels into [0,1]: (pixels + u) / 256, u ~ U[0,1).
torch::Tensor dequantize(const torch::Tensor& pixels, at::Generator generator);

// Bits per dimension of 8-bit data from log p(x) of x = (pixels + u) / 256 in [0,1]^D:
// (-log p(x) + D ln 256) / (D ln 2). A uniform density on the unit cube scores exactly 8.
torch::Tensor bits_per_dim(const torch::Tensor& log_prob_unit_cube, int64_t dim);

}  // namespace genbox
