// The likelihood conventions every experiment shares, so NICE and the rectified flow report
// bits/dim on one axis: 8-bit pixels dequantized uniformly into [0,1].
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

namespace genbox {

// Uniform [0, 1) floats on the CPU from a counter-based stream (SplitMix64 of the element index)
// keyed by one 64-bit draw from `generator`: a run draws the same noise whatever the thread
// count, at about a fifth of the cost of drawing every element from the generator's mt19937
// (which was 4% of NICE's CPU training step). 24 random bits per value.
torch::Tensor uniform_noise(at::IntArrayRef sizes, at::Generator generator);

// Uniform dequantization of uint8 pixels into [0,1]: (pixels + u) / 256, u ~ U[0,1) from
// uniform_noise.
torch::Tensor dequantize(const torch::Tensor& pixels, at::Generator generator);

// Bits per dimension of 8-bit data from log p(x) of x = (pixels + u) / 256 in [0,1]^D:
// (-log p(x) + D ln 256) / (D ln 2). A uniform density on the unit cube scores exactly 8.
torch::Tensor bits_per_dim(const torch::Tensor& log_prob_unit_cube, int64_t dim);

}  // namespace genbox
