#include "flows/nice.hpp"

#include <torch/torch.h>
#include <cmath>

namespace genbox::flows {

NiceImpl::NiceImpl(const NiceOptions& options) : options_(options), prior_{options.prior} {
  for (int64_t i = 0; i < options.coupling_layers; ++i)
    couplings_->push_back(AdditiveCoupling(options.dim, i % 2, options.hidden, options.hidden_layers));
  register_module("couplings", couplings_);
  scaling_ = register_module("scaling", DiagonalScaling(options.dim));
}

FlowResult NiceImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = x, logdet = torch::zeros({x.size(0)}, x.options());
  for (const auto& layer : *couplings_) {
    auto [out, layer_logdet] = layer->as<AdditiveCoupling>()->forward(h);
    h = out;
    logdet = logdet + layer_logdet;
  }
  auto [z, scale_logdet] = scaling_->forward(h);
  return {z, logdet + scale_logdet};
}

FlowResult NiceImpl::inverse(const torch::Tensor& z) {
  auto [h, logdet] = scaling_->inverse(z);
  for (int64_t i = static_cast<int64_t>(couplings_->size()) - 1; i >= 0; --i) {
    auto [out, layer_logdet] = couplings_[i]->as<AdditiveCoupling>()->inverse(h);
    h = out;
    logdet = logdet + layer_logdet;
  }
  return {h, logdet};
}

torch::Tensor NiceImpl::log_prob(const torch::Tensor& x) {
  auto [z, logdet] = forward(x);
  return prior_.log_prob(z) + logdet;
}

torch::Tensor NiceImpl::sample(int64_t n, double temperature, at::Generator generator) {
  torch::Tensor z = prior_.sample(n, options_.dim, temperature, generator, scaling_->log_scale.options());
  return inverse(z).first;
}

void NiceImpl::initialize_from_data(const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  torch::Tensor h = x;
  for (size_t i = 0; i < couplings_->size(); ++i) {
    auto coupling = couplings_[i]->as<AdditiveCoupling>();
    coupling->output_layer()->weight.zero_();
    coupling->output_layer()->bias.zero_();
    if (i < 2)
      coupling->output_layer()->bias.copy_(-h.index_select(1, coupling->changed_index().to(h.device())).mean(0));
    h = coupling->forward(h).first;
  }
  torch::Tensor stddev = h.std(0).clamp_min(1e-6);
  scaling_->log_scale.copy_(torch::log(prior_.stddev() / stddev));
}

}  // namespace genbox::flows
