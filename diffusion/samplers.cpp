#include "diffusion/samplers.hpp"

#include <torch/torch.h>
#include <stdexcept>

#include "diffusion/rectified_flow.hpp"

namespace genbox::diffusion {

namespace {
void check_steps(int64_t steps) {
  if (steps < 1) throw std::invalid_argument("a sampler needs at least one step");
}

torch::Tensor batch_time(double t, const torch::Tensor& x) { return torch::full({x.size(0)}, t, x.options()); }
}  // namespace

torch::Tensor timestep_schedule(int64_t steps, double shift) {
  check_steps(steps);
  return shift_timesteps(torch::linspace(1.0, 0.0, steps + 1, torch::kFloat64), shift);
}

torch::Tensor sample_euler(const VelocityFn& velocity, torch::Tensor noise, int64_t steps, double shift) {
  torch::Tensor schedule = timestep_schedule(steps, shift);
  auto t = schedule.accessor<double, 1>();
  torch::Tensor x = std::move(noise);
  for (int64_t i = 0; i < steps; ++i) x = x + (t[i + 1] - t[i]) * velocity(x, batch_time(t[i], x));
  return x;
}

torch::Tensor sample_heun(const VelocityFn& velocity, torch::Tensor noise, int64_t steps, double shift) {
  torch::Tensor schedule = timestep_schedule(steps, shift);
  auto t = schedule.accessor<double, 1>();
  torch::Tensor x = std::move(noise);
  for (int64_t i = 0; i < steps; ++i) {
    double dt = t[i + 1] - t[i];
    torch::Tensor slope = velocity(x, batch_time(t[i], x));
    torch::Tensor predicted = x + dt * slope;
    x = x + (dt / 2) * (slope + velocity(predicted, batch_time(t[i + 1], x)));
  }
  return x;
}

VelocityFn guided_velocity(ConditionalVelocityFn model, torch::Tensor labels, int64_t null_class, double guidance) {
  torch::Tensor both_labels = torch::cat({labels, torch::full_like(labels, null_class)});
  return [model = std::move(model), both_labels, guidance](const torch::Tensor& x, const torch::Tensor& t) {
    auto v = model(torch::cat({x, x}), torch::cat({t, t}), both_labels.to(x.device())).chunk(2);
    return v[1] + guidance * (v[0] - v[1]);
  };
}

}  // namespace genbox::diffusion
