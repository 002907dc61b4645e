#include "flows/priors.hpp"

#include <torch/torch.h>
#include <cmath>
#include <stdexcept>

namespace genbox::flows {

torch::Tensor logistic_log_prob(const torch::Tensor& z) {
  // log sigma(z) + log(1 - sigma(z)) = -(softplus(z) + softplus(-z)), stable for large |z|.
  return -(torch::nn::functional::softplus(z) + torch::nn::functional::softplus(-z));
}

torch::Tensor gaussian_log_prob(const torch::Tensor& z) { return -0.5 * z.square() - 0.5 * std::log(2 * M_PI); }

torch::Tensor Prior::log_prob(const torch::Tensor& z) const {
  return (kind == "logistic" ? logistic_log_prob(z) : gaussian_log_prob(z)).sum(1);
}

torch::Tensor Prior::sample(int64_t n, int64_t dim, double temperature, at::Generator generator,
                            const torch::TensorOptions& options) const {
  torch::Tensor z;
  if (kind == "logistic") {
    // Inverse CDF; u stays away from 0 and 1 so the logit is finite.
    torch::Tensor u = at::rand({n, dim}, generator).clamp(1e-6, 1 - 1e-6);
    z = torch::log(u) - torch::log1p(-u);
  } else if (kind == "gaussian") {
    z = at::randn({n, dim}, generator);
  } else {
    throw std::invalid_argument("unknown prior '" + kind + "'");
  }
  return (z * temperature).to(options);
}

double Prior::stddev() const { return kind == "logistic" ? M_PI / std::sqrt(3.0) : 1.0; }

}  // namespace genbox::flows
