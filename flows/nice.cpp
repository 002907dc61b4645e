#include "flows/nice.hpp"

#include <torch/torch.h>
#include <cmath>

#include "common/device.hpp"

namespace genbox::flows {

NiceImpl::NiceImpl(const NiceOptions& options) : options_(options), prior_{options.prior} {
  for (int64_t i = 0; i < options.coupling_layers; ++i)
    couplings_->push_back(AdditiveCoupling(options.dim, i % 2, options.hidden, options.hidden_layers));
  register_module("couplings", couplings_);
  scaling_ = register_module("scaling", DiagonalScaling(options.dim));
}

namespace {

Halves split(const torch::Tensor& x) {
  using torch::indexing::None;
  return {x.slice(1, 0, None, 2).contiguous(), x.slice(1, 1, None, 2).contiguous()};
}

}  // namespace

torch::Tensor NiceImpl::interleave(const Halves& h) const {
  if (h.even.size(1) == h.odd.size(1)) return torch::stack({h.even, h.odd}, 2).flatten(1);
  torch::Tensor order = torch::cat({torch::arange(0, options_.dim, 2), torch::arange(1, options_.dim, 2)});
  return torch::cat({h.even, h.odd}, 1).index_select(1, torch::argsort(order).to(h.even.device()));
}

std::pair<Halves, torch::Tensor> NiceImpl::forward_halves(const torch::Tensor& x) {
  Halves h = split(x);
  for (const auto& layer : *couplings_) {
    auto coupling = layer->as<AdditiveCoupling>();
    if (coupling->parity() == 0)
      h.odd = h.odd + coupling->shift(h.even);
    else
      h.even = h.even + coupling->shift(h.odd);
  }
  // The couplings preserve volume: only the scaling adds to log|det|, in fp32 whatever the precision.
  Fp32Island fp32(x.device());
  Halves log_scale = split(scaling_->log_scale.unsqueeze(0));
  Halves z{h.even * log_scale.even.exp(), h.odd * log_scale.odd.exp()};
  return {z, scaling_->log_scale.sum().expand({x.size(0)})};
}

torch::Tensor NiceImpl::inverse_halves(Halves h) {
  Halves log_scale = split(scaling_->log_scale.unsqueeze(0));
  h = {h.even * (-log_scale.even).exp(), h.odd * (-log_scale.odd).exp()};
  for (int64_t i = static_cast<int64_t>(couplings_->size()) - 1; i >= 0; --i) {
    auto coupling = couplings_[i]->as<AdditiveCoupling>();
    if (coupling->parity() == 0)
      h.odd = h.odd - coupling->shift(h.even);
    else
      h.even = h.even - coupling->shift(h.odd);
  }
  return interleave(h);
}

FlowResult NiceImpl::forward(const torch::Tensor& x) {
  auto [z, logdet] = forward_halves(x);
  return {interleave(z), logdet};
}

FlowResult NiceImpl::inverse(const torch::Tensor& z) {
  return {inverse_halves(split(z)), (-scaling_->log_scale.sum()).expand({z.size(0)})};
}

torch::Tensor NiceImpl::log_prob(const torch::Tensor& x) {
  auto [z, logdet] = forward_halves(x);
  Fp32Island fp32(x.device());
  return prior_.log_prob(z.even) + prior_.log_prob(z.odd) + logdet;
}

torch::Tensor log_prob_in_precision(Nice& model, const torch::Tensor& x, const std::string& precision) {
  AutocastGuard autocast(precision, x.device());
  return model->log_prob(x);
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

std::vector<MatmulShape> nice_train_matmuls(const NiceOptions& o, int64_t batch) {
  std::vector<MatmulShape> shapes;
  for (int64_t i = 0; i < o.coupling_layers; ++i) {
    const int64_t kept = i % 2 == 0 ? o.dim - o.dim / 2 : o.dim / 2, changed = o.dim - kept;
    std::vector<int64_t> widths = {kept};
    for (int64_t l = 0; l < o.hidden_layers; ++l) widths.push_back(o.hidden);
    widths.push_back(changed);
    for (size_t l = 0; l + 1 < widths.size(); ++l) {
      const int64_t in = widths[l], out = widths[l + 1];
      shapes.push_back({batch, in, out, false, true});                       // x W^T
      shapes.push_back({out, batch, in, true, false});                       // g^T x
      if (i > 0 || l > 0) shapes.push_back({batch, out, in, false, false});  // g W
    }
  }
  return shapes;
}

}  // namespace genbox::flows
