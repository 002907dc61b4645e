#include "diffusion/velocity_model.hpp"

#include <torch/torch.h>

#include "common/device.hpp"
#include "diffusion/rectified_flow.hpp"
#include "diffusion/samplers.hpp"

namespace genbox::diffusion {

torch::Tensor rectified_flow_loss(VelocityModel& model, const torch::Tensor& x0, const torch::Tensor& noise,
                                  const torch::Tensor& t, const torch::Tensor& labels, const std::string& precision) {
  torch::Tensor v;
  {
    AutocastGuard autocast(precision, x0.device());
    v = model(interpolate(x0, noise, t), t, labels);
  }
  return torch::mse_loss(v.to(torch::kFloat32), velocity_target(x0, noise));
}

torch::Tensor generate(VelocityModel& model, const torch::Tensor& noise, const torch::Tensor& labels,
                       const SamplingOptions& options, const std::string& precision) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.module()->is_training();
  model.module()->eval();
  AutocastGuard autocast(precision, noise.device());
  auto conditional = [&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& l) {
    return model(x, t, l).to(torch::kFloat32);
  };
  const bool guided = model.null_class > 0 && options.guidance != 1.0;
  VelocityFn velocity = guided ? guided_velocity(conditional, labels, model.null_class, options.guidance)
                               : VelocityFn([&](const torch::Tensor& x, const torch::Tensor& t) {
                                   return conditional(x, t, labels);
                                 });
  torch::Tensor x = options.sampler == "heun" ? sample_heun(velocity, noise, options.steps, options.shift)
                                              : sample_euler(velocity, noise, options.steps, options.shift);
  model.module()->train(was_training);
  return x;
}

}  // namespace genbox::diffusion
