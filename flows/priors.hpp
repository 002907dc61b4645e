// Factorised priors of NICE: standard logistic (the paper's choice) or standard Gaussian.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <string>

namespace genbox::flows {

// Elementwise log-densities.
torch::Tensor logistic_log_prob(const torch::Tensor& z);
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
