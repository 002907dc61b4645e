#include "diffusion/velocity_model.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>

#include "common/device.hpp"
#include "common/likelihood.hpp"
#include "diffusion/likelihood.hpp"
#include "diffusion/rectified_flow.hpp"
#include "diffusion/samplers.hpp"

namespace genbox::diffusion {

FlowDraw draw_flow_inputs(const torch::Tensor& x0, const torch::Tensor& labels, int64_t null_class,
                          double label_dropout, const TimestepSampling& sampling, at::Generator generator) {
  const int64_t n = x0.size(0);
  FlowDraw d;
  torch::Tensor dropped = (at::rand({n}, generator) < label_dropout).to(labels.device());
  d.labels = torch::where(dropped, torch::full_like(labels, null_class), labels);
  d.t = sample_timesteps(sampling, n, generator).to(x0.device());
  d.noise = at::randn(x0.sizes(), generator).to(x0.device());
  return d;
}

torch::Tensor rectified_flow_loss(VelocityModel& model, const torch::Tensor& x0, const torch::Tensor& noise,
                                  const torch::Tensor& t, const torch::Tensor& labels, const std::string& precision) {
  torch::Tensor v;
  {
    AutocastGuard autocast(precision, x0.device());
    v = model(interpolate(x0, noise, t), t, labels);
  }
  return torch::mse_loss(v.to(torch::kFloat32), velocity_target(x0, noise));
}

double validation_loss(VelocityModel& model, const torch::Tensor& x0, const torch::Tensor& labels, int64_t seed,
                       const std::string& precision) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.module()->is_training();
  model.module()->eval();
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const int64_t n = x0.size(0);
  torch::Tensor noise = at::randn(x0.sizes(), generator).to(x0.device());
  torch::Tensor t = (torch::arange(n, torch::kFloat32) + 0.5).div(n).to(x0.device());
  double loss = rectified_flow_loss(model, x0, noise, t, labels, precision).item<double>();
  model.module()->train(was_training);
  return loss;
}

namespace {
torch::Tensor unconditional_log_likelihood(VelocityModel& model, const torch::Tensor& x, int64_t steps,
                                           at::Generator generator) {
  const bool was_training = model.module()->is_training();
  model.module()->eval();
  torch::Tensor null_labels =
      torch::full({x.size(0)}, model.null_class, torch::TensorOptions().dtype(torch::kLong).device(x.device()));
  VelocityFn velocity = [&](const torch::Tensor& z, const torch::Tensor& t) { return model(z, t, null_labels); };
  torch::Tensor log_p = ode_log_likelihood(velocity, x, steps, generator).to(torch::kFloat64);
  model.module()->train(was_training);
  return log_p;
}
}  // namespace

double ode_bits_per_dim(VelocityModel& model, const torch::Tensor& x, int64_t steps, at::Generator generator) {
  const int64_t dim = x[0].numel();
  // x = 2y - 1 with y = (pixel + u) / 256 in [0, 1]: log p(y) = log p(x) + D ln 2.
  torch::Tensor log_p_unit = unconditional_log_likelihood(model, x, steps, generator) + double(dim) * std::log(2.0);
  return bits_per_dim(log_p_unit, dim).mean().item<double>();
}

double ode_latent_bits_per_dim(VelocityModel& model, const torch::Tensor& z, int64_t steps, at::Generator generator) {
  const double nats = -unconditional_log_likelihood(model, z, steps, generator).mean().item<double>();
  return nats / (double(z[0].numel()) * std::log(2.0));
}

double ode_negative_log_likelihood(VelocityModel& model, const torch::Tensor& x, int64_t steps,
                                   at::Generator generator) {
  return -unconditional_log_likelihood(model, x, steps, generator).mean().item<double>();
}

SampleSheet sample_sheet(const std::vector<int64_t>& example_shape, int64_t rows, int64_t per_row, int64_t classes,
                         int64_t seed, c10::Device device) {
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed + 104729);
  std::vector<int64_t> shape = {rows * per_row};
  shape.insert(shape.end(), example_shape.begin(), example_shape.end());
  // Rows beyond the classes (a sheet has at least 4) start the classes over.
  torch::Tensor labels = classes > 0 ? torch::arange(rows).remainder(classes).repeat_interleave(per_row)
                                     : torch::zeros({rows * per_row}, torch::kLong);
  return {at::randn(shape, generator).to(device), labels.to(device), per_row};
}

torch::Tensor generate(VelocityModel& model, const torch::Tensor& noise, const torch::Tensor& labels,
                       const SamplingOptions& options, const std::string& precision) {
  c10::InferenceMode inference;  // no autograd bookkeeping at all: a few per cent on small sampling steps
  const bool was_training = model.module()->is_training();
  model.module()->eval();
  AutocastGuard autocast(precision, noise.device());
  auto conditional = [&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& l) {
    return model(x, t, l).to(torch::kFloat32);
  };
  const bool guided = model.null_class > 0 && options.guidance != 1.0;
  VelocityFn velocity =
      guided ? guided_velocity(conditional, labels, model.null_class, options.guidance)
             : VelocityFn([&](const torch::Tensor& x, const torch::Tensor& t) { return conditional(x, t, labels); });
  torch::Tensor x = options.sampler == "heun" ? sample_heun(velocity, noise, options.steps, options.shift)
                                              : sample_euler(velocity, noise, options.steps, options.shift);
  model.module()->train(was_training);
  return x;
}

torch::Tensor generate_step_sweep(VelocityModel& model, const torch::Tensor& noise, const torch::Tensor& labels,
                                  SamplingOptions options, const std::string& precision,
                                  const std::vector<int64_t>& step_counts) {
  std::vector<torch::Tensor> rows;
  for (int64_t steps : step_counts) {
    options.steps = steps;
    rows.push_back(generate(model, noise, labels, options, precision));
  }
  return torch::cat(rows);
}

torch::Tensor generate_in_batches(VelocityModel& model, const std::vector<int64_t>& example_shape,
                                  const torch::Tensor& labels, const SamplingOptions& options,
                                  const std::string& precision, int64_t batch, int64_t seed) {
  std::vector<torch::Tensor> parts;
  at::Generator noise = at::make_generator<at::CPUGeneratorImpl>(seed);
  const int64_t n = labels.size(0);
  for (int64_t i = 0; i < n; i += batch) {
    int64_t b = std::min(batch, n - i);
    std::vector<int64_t> shape = {b};
    shape.insert(shape.end(), example_shape.begin(), example_shape.end());
    parts.push_back(
        generate(model, at::randn(shape, noise).to(labels.device()), labels.narrow(0, i, b), options, precision));
  }
  return torch::cat(parts);
}

}  // namespace genbox::diffusion
