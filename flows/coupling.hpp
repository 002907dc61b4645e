// NICE's invertible layers. Each returns (output, log|det J|) in both directions, with the
// log-determinant per example (shape [batch]).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <utility>

namespace genbox::flows {

using FlowResult = std::pair<torch::Tensor, torch::Tensor>;

// y_changed = x_changed + m(x_kept), y_kept = x_kept: volume preserving, so logdet is 0.
// The partition interleaves coordinates: `parity` 0 keeps the even ones and changes the odd ones.
class AdditiveCouplingImpl : public torch::nn::Module {
 public:
  AdditiveCouplingImpl(int64_t dim, int64_t parity, int64_t hidden, int64_t hidden_layers);
  FlowResult forward(const torch::Tensor& x);
  FlowResult inverse(const torch::Tensor& y);
  // m(x_kept), for a caller that keeps the two halves apart (NICE does, between layers).
  // The shift network's output in the dtype of `kept` (under autocast the network computes in
  // bf16/fp16; the coordinates it shifts stay fp32, which keeps the flow invertible to fp32).
  torch::Tensor shift(const torch::Tensor& kept) { return shift_net_->forward(kept).to(kept.scalar_type()); }
  int64_t parity() const { return parity_; }

  // The last linear layer of m; zero weights make the coupling start as the identity.
  torch::nn::Linear& output_layer() { return output_layer_; }
  const torch::Tensor& changed_index() const { return changed_index_; }

 private:
  torch::Tensor combine(const torch::Tensor& kept, const torch::Tensor& changed) const;
  // The partition is fixed by (dim, parity), so it is not state: plain index tensors that move
  // to the data's device on first use (and that Module::to(dtype) cannot turn into floats).
  void follow_device(const torch::Device& device);
  int64_t parity_;
  torch::Tensor kept_index_, changed_index_;
  torch::nn::Sequential shift_net_;
  torch::nn::Linear output_layer_{nullptr};
};
TORCH_MODULE(AdditiveCoupling);

// y = x * exp(s): the only layer of NICE that changes volume, logdet = sum(s).
class DiagonalScalingImpl : public torch::nn::Module {
 public:
  explicit DiagonalScalingImpl(int64_t dim);
  FlowResult forward(const torch::Tensor& x);
  FlowResult inverse(const torch::Tensor& y);
  torch::Tensor log_scale;
};
TORCH_MODULE(DiagonalScaling);

}  // namespace genbox::flows
