#include "common/loss_scaler.hpp"

#include <ATen/ops/_amp_foreach_non_finite_check_and_unscale.h>
#include <ATen/ops/_amp_update_scale.h>
#include <torch/torch.h>

#include <stdexcept>

namespace genbox {

LossScaler::LossScaler(const LossScalingOptions& options, c10::Device device)
    : options_(options),
      scale_(torch::full({}, options.init_scale, torch::TensorOptions(device).dtype(torch::kFloat))),
      growth_tracker_(torch::zeros({}, torch::TensorOptions(device).dtype(torch::kInt))),
      found_inf_(torch::zeros({}, torch::TensorOptions(device).dtype(torch::kFloat))) {}

torch::Tensor LossScaler::scale(const torch::Tensor& loss) const { return loss * scale_.to(loss.device()); }

bool LossScaler::unscale(const std::vector<torch::Tensor>& parameters) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> gradients;
  for (const torch::Tensor& p : parameters)
    if (p.grad().defined()) gradients.push_back(p.grad());
  found_inf_.zero_();
  const torch::Tensor inverse = scale_.to(torch::kDouble).reciprocal().to(torch::kFloat);
  if (!gradients.empty()) at::_amp_foreach_non_finite_check_and_unscale_(gradients, found_inf_, inverse);
  return found_inf_.item<float>() == 0.0f;
}

void LossScaler::update() {
  const bool skipped = found_inf_.item<float>() != 0.0f;
  at::_amp_update_scale_(scale_, growth_tracker_, found_inf_, options_.growth_factor, options_.backoff_factor,
                         options_.growth_interval);
  skipped_ += skipped;
  skipped_in_a_row_ = skipped ? skipped_in_a_row_ + 1 : 0;
}

double LossScaler::current_scale() const { return scale_.item<double>(); }

int64_t LossScaler::growth_tracker() const { return growth_tracker_.item<int64_t>(); }

std::map<std::string, torch::Tensor> LossScaler::state() const {
  return {{"scale", scale_.cpu().clone()},
          {"growth_tracker", growth_tracker_.cpu().clone()},
          {"skipped", torch::tensor(skipped_)},
          {"skipped_in_a_row", torch::tensor(skipped_in_a_row_)}};
}

void LossScaler::load_state(const std::map<std::string, torch::Tensor>& state) {
  for (const char* key : {"scale", "growth_tracker", "skipped", "skipped_in_a_row"})
    if (!state.count(key)) throw std::invalid_argument(std::string("loss scaler state without ") + key);
  torch::NoGradGuard no_grad;
  scale_.copy_(state.at("scale"));
  growth_tracker_.copy_(state.at("growth_tracker"));
  skipped_ = state.at("skipped").item<int64_t>();
  skipped_in_a_row_ = state.at("skipped_in_a_row").item<int64_t>();
}

}  // namespace genbox
