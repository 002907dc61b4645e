// ODE samplers for rectified flow: integrate dx/dt = v(x, t) from noise at t = 1 down to data at
// t = 0 on a fixed grid of timesteps, with classifier-free guidance as a wrapper around the model.
#pragma once

#include <torch/types.h>

#include <functional>

namespace genbox::diffusion {

// v(x, t) with t [B] in x's dtype and device.
using VelocityFn = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t)>;
// A class-conditional model: v(x, t, labels).
using ConditionalVelocityFn =
    std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& labels)>;

// steps + 1 timesteps (float64, CPU) from 1 down to 0, evenly spaced before the shift
// t' = a t / (1 + (a - 1) t) is applied; a > 1 spends more of the steps near the noise end.
torch::Tensor timestep_schedule(int64_t steps, double shift);

// Euler: x <- x + (t_next - t) v(x, t); `steps` evaluations of v. Runs in the caller's grad mode.
torch::Tensor sample_euler(const VelocityFn& velocity, torch::Tensor noise, int64_t steps, double shift);

// Heun's second-order method (the trapezoid rule with an Euler predictor); 2 * steps evaluations
// of v. Unlike EDM, whose derivative (x - D(x)) / sigma is undefined at sigma = 0 and so ends on an
// Euler step, a rectified-flow velocity is finite at t = 0, so every step, the last included, is
// a full Heun step.
torch::Tensor sample_heun(const VelocityFn& velocity, torch::Tensor noise, int64_t steps, double shift);

// Classifier-free guidance: v = v_u + guidance (v_c - v_u), where v_c uses `labels` and v_u the
// null class, both from one forward pass over the doubled batch. guidance 1 is the conditional
// model, 0 the unconditional one.
VelocityFn guided_velocity(ConditionalVelocityFn model, torch::Tensor labels, int64_t null_class, double guidance);

}  // namespace genbox::diffusion
