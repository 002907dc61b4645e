// Factorised priors of NICE: standard logistic (the paper's choice) or standard Gaussian.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <string>
#include <utility>

namespace genbox::flows {

// Elementwise log-densities.
torch::Tensor logistic_log_prob(const torch::Tensor& z);

// The logistic log-density of z [rows, cols] summed per row (sum_rows) or of any shape per
// element, and with_slope its derivative -tanh(z / 2) (undefined otherwise), without autograd.
// Float32 CPU data takes one pass (AVX2 when the CPU has it and `avx2`; tests turn it off to
// compare the portable loop); on NICE's training path that replaces nine ATen passes over each
// half (abs, neg, exp, log1p, mul, add, sum, mul, tanh).
std::pair<torch::Tensor, torch::Tensor> logistic_density(const torch::Tensor& z, bool sum_rows, bool with_slope,
                                                         bool avx2 = true);
torch::Tensor gaussian_log_prob(const torch::Tensor& z);

struct Prior {
  std::string kind;  // "logistic" or "gaussian"
  // Sum over dimensions: shape [batch].
  torch::Tensor log_prob(const torch::Tensor& z) const;
  // Samples scaled by `temperature` (1 draws from the prior itself).
  torch::Tensor sample(int64_t n, int64_t dim, double temperature, at::Generator generator,
                       const torch::TensorOptions& options) const;
  // Standard deviation of one coordinate: pi/sqrt(3) for the logistic, 1 for the Gaussian.
  double stddev() const;
};

}  // namespace genbox::flows
