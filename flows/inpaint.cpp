#include "flows/inpaint.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace genbox::flows {

torch::Tensor inpaint_mask(const std::string& kind, int64_t n, const std::vector<int64_t>& shape) {
  const int64_t h = shape.at(1), w = shape.at(2);
  torch::Tensor observed = torch::ones({n, shape[0], h, w});
  using torch::indexing::Slice;
  if (kind == "bottom_half") observed.index_put_({Slice(), Slice(), Slice(h / 2, h), Slice()}, 0);
  if (kind == "right_half") observed.index_put_({Slice(), Slice(), Slice(), Slice(w / 2, w)}, 0);
  if (kind == "center") observed.index_put_({Slice(), Slice(), Slice(h / 4, 3 * h / 4), Slice(w / 4, 3 * w / 4)}, 0);
  if (kind == "random_half")
    observed = (at::rand({n, shape[0], h, w}, at::make_generator<at::CPUGeneratorImpl>(5)) < 0.5).to(torch::kFloat32);
  return observed.flatten(1);
}

torch::Tensor inpaint(Nice& model, const torch::Tensor& x, const torch::Tensor& observed, const InpaintOptions& options,
                      at::Generator generator) {
  torch::Tensor hidden = 1 - observed.to(x.dtype());
  torch::Tensor current = x * (1 - hidden) + at::rand(x.sizes(), generator).to(x.device()) * hidden;
  for (int64_t i = 0; i < options.steps; ++i) {
    torch::Tensor leaf = current.detach().requires_grad_(true);
    torch::Tensor gradient = torch::autograd::grad({model->log_prob(leaf).sum()}, {leaf})[0] * hidden;
    // A trained flow's log p can change by thousands of nats per unit of a pixel, so the raw
    // gradient would throw pixels to 0 or 1; scaled to unit RMS per image, the paper's step
    // schedule moves pixels by about step_scale / (100 + i) whatever the model's scale.
    torch::Tensor rms = (gradient.square().sum(1, true) / hidden.sum(1, true).clamp_min(1)).sqrt().clamp_min(1e-12);
    double step = options.step_scale / (100.0 + static_cast<double>(i));
    torch::Tensor noise = at::randn(x.sizes(), generator).to(x.device()) * options.noise;
    current = (current + step * (gradient / rms + noise) * hidden).clamp(0, 1).detach();
  }
  return current;
}

}  // namespace genbox::flows
