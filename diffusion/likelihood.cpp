#include "diffusion/likelihood.hpp"

#include <torch/torch.h>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace genbox::diffusion {

namespace {
struct ValueAndDivergence {
  torch::Tensor value;       // f(x), detached
  torch::Tensor divergence;  // [B], averaged over the probes
};

// f(x) and the mean of probe^T (df/dx) probe over probes [P, B, ...], sharing one forward pass.
ValueAndDivergence value_and_divergence(const BatchMapFn& f, const torch::Tensor& x, const torch::Tensor& probes) {
  torch::AutoGradMode grad_mode(true);
  torch::Tensor input = x.detach().requires_grad_(true);
  torch::Tensor output = f(input);
  torch::Tensor divergence = torch::zeros({x.size(0)}, x.options());
  int64_t count = probes.size(0);
  for (int64_t i = 0; i < count; ++i) {
    torch::Tensor probe = probes[i];
    torch::Tensor vjp = torch::autograd::grad({output}, {input}, {probe}, /*retain_graph=*/i + 1 < count)[0];
    divergence += (vjp * probe).flatten(1).sum(1);
  }
  return {output.detach(), divergence.detach() / static_cast<double>(count)};
}

torch::Tensor rademacher(const std::vector<int64_t>& shape, at::Generator& gen, const torch::TensorOptions& options) {
  torch::TensorOptions draw = torch::TensorOptions().device(gen.defined() ? gen.device() : torch::Device(torch::kCPU));
  return (at::randint(0, 2, shape, gen, draw) * 2 - 1).to(options);
}

torch::Tensor standard_normal_log_prob(const torch::Tensor& x) {
  int64_t dim = x[0].numel();
  return -0.5 * x.flatten(1).square().sum(1) - 0.5 * dim * std::log(2 * M_PI);
}
}  // namespace

torch::Tensor hutchinson_divergence(const BatchMapFn& f, const torch::Tensor& x, const torch::Tensor& probe) {
  return value_and_divergence(f, x, probe.unsqueeze(0)).divergence;
}

torch::Tensor exact_divergence(const BatchMapFn& f, const torch::Tensor& x) {
  torch::AutoGradMode grad_mode(true);
  torch::Tensor input = x.detach().requires_grad_(true);
  torch::Tensor output = f(input).flatten(1);
  int64_t dim = output.size(1);
  torch::Tensor divergence = torch::zeros({x.size(0)}, x.options());
  for (int64_t i = 0; i < dim; ++i) {
    // Examples are independent, so one backward pass gives d f_i / d x_i of every example at once.
    torch::Tensor unit = torch::zeros_like(output);
    unit.select(1, i).fill_(1);
    torch::Tensor gradient = torch::autograd::grad({output}, {input}, {unit}, /*retain_graph=*/i + 1 < dim)[0];
    divergence += gradient.flatten(1).select(1, i);
  }
  return divergence.detach();
}

torch::Tensor ode_log_likelihood(const VelocityFn& velocity, const torch::Tensor& x0, int64_t steps, at::Generator gen,
                                 int64_t probes) {
  if (steps < 1) throw std::invalid_argument("the likelihood ODE needs at least one step");
  if (probes < 1) throw std::invalid_argument("the Hutchinson estimator needs at least one probe");
  std::vector<int64_t> shape = {probes};
  for (int64_t size : x0.sizes()) shape.push_back(size);
  torch::Tensor probe = rademacher(shape, gen, x0.options());

  auto field_at = [&](double t) {
    return [&velocity, t](const torch::Tensor& x) { return velocity(x, torch::full({x.size(0)}, t, x.options())); };
  };
  torch::Tensor x = x0.detach();
  torch::Tensor integral = torch::zeros({x0.size(0)}, x0.options());
  double dt = 1.0 / static_cast<double>(steps);
  for (int64_t i = 0; i < steps; ++i) {
    double t = i * dt, t_next = (i + 1) * dt;
    ValueAndDivergence start = value_and_divergence(field_at(t), x, probe);
    ValueAndDivergence end = value_and_divergence(field_at(t_next), x + dt * start.value, probe);
    x = x + (dt / 2) * (start.value + end.value);
    integral += (dt / 2) * (start.divergence + end.divergence);
  }
  return standard_normal_log_prob(x) + integral;
}

}  // namespace genbox::diffusion
