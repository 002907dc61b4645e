#include "flows/coupling.hpp"

#include <torch/torch.h>

namespace genbox::flows {

AdditiveCouplingImpl::AdditiveCouplingImpl(int64_t dim, int64_t parity, int64_t hidden, int64_t hidden_layers)
    : parity_(parity) {
  TORCH_CHECK(dim >= 2, "a coupling layer needs at least 2 dimensions");
  torch::Tensor all = torch::arange(dim, torch::kLong);
  kept_index_ = all.index({torch::indexing::Slice(parity, torch::indexing::None, 2)});
  changed_index_ = all.index({torch::indexing::Slice(1 - parity, torch::indexing::None, 2)});
  int64_t width = kept_index_.size(0);
  for (int64_t i = 0; i < hidden_layers; ++i) {
    shift_net_->push_back(torch::nn::Linear(i == 0 ? width : hidden, hidden));
    shift_net_->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
  }
  output_layer_ = torch::nn::Linear(hidden_layers == 0 ? width : hidden, changed_index_.size(0));
  shift_net_->push_back(output_layer_);
  register_module("shift_net", shift_net_);
}

torch::Tensor AdditiveCouplingImpl::combine(const torch::Tensor& kept, const torch::Tensor& changed) const {
  int64_t dim = kept.size(1) + changed.size(1);
  torch::Tensor out = torch::empty({kept.size(0), dim}, kept.options());
  return out.index_copy(1, kept_index_, kept).index_copy(1, changed_index_, changed);
}

void AdditiveCouplingImpl::follow_device(const torch::Device& device) {
  if (kept_index_.device() == device) return;
  kept_index_ = kept_index_.to(device);
  changed_index_ = changed_index_.to(device);
}

FlowResult AdditiveCouplingImpl::forward(const torch::Tensor& x) {
  follow_device(x.device());
  torch::Tensor kept = x.index_select(1, kept_index_);
  torch::Tensor changed = x.index_select(1, changed_index_) + shift(kept);
  return {combine(kept, changed), torch::zeros({x.size(0)}, x.options())};
}

FlowResult AdditiveCouplingImpl::inverse(const torch::Tensor& y) {
  follow_device(y.device());
  torch::Tensor kept = y.index_select(1, kept_index_);
  torch::Tensor changed = y.index_select(1, changed_index_) - shift(kept);
  return {combine(kept, changed), torch::zeros({y.size(0)}, y.options())};
}

DiagonalScalingImpl::DiagonalScalingImpl(int64_t dim) {
  log_scale = register_parameter("log_scale", torch::zeros({dim}));
}

FlowResult DiagonalScalingImpl::forward(const torch::Tensor& x) {
  return {x * log_scale.exp(), log_scale.sum().expand({x.size(0)})};
}

FlowResult DiagonalScalingImpl::inverse(const torch::Tensor& y) {
  return {y * (-log_scale).exp(), (-log_scale.sum()).expand({y.size(0)})};
}

}  // namespace genbox::flows
