// Rectified flow (Liu et al. 2022; SD3, Esser et al. 2024): the straight path from data at t = 0
// to Gaussian noise at t = 1, its velocity target, and the training timestep distributions of
// SD3 section 3.1 with its resolution-dependent shift.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <string>

namespace genbox::diffusion {

// z_t = (1 - t) x0 + t noise, with t [B] broadcast over the other dimensions of x0.
torch::Tensor interpolate(const torch::Tensor& x0, const torch::Tensor& noise, const torch::Tensor& t);
// dz_t/dt = noise - x0: what the network learns to predict.
torch::Tensor velocity_target(const torch::Tensor& x0, const torch::Tensor& noise);

struct TimestepSampling {
  std::string kind = "logit_normal";  // "uniform" | "logit_normal" | "mode" | "cosmap"
  double mean = 0.0;                  // logit-normal location m
  double stddev = 1.0;                // logit-normal scale s
  double mode_scale = 1.29;           // the s of mode sampling
  double shift = 1.0;                 // applied after sampling; 1 leaves t as drawn
};

// Each returns n timesteps in [0, 1] as float32 on the generator's device (CPU when undefined).
torch::Tensor uniform_timesteps(int64_t n, at::Generator gen);
// sigmoid(u), u ~ N(mean, stddev^2).
torch::Tensor logit_normal_timesteps(int64_t n, double mean, double stddev, at::Generator gen);
// f(u) = 1 - u - scale (cos^2(pi u / 2) - 1 + u), u ~ U(0, 1); scale 0 is uniform, larger
// scales put more mass in the middle. Invertible (so a density) for -1 <= scale <= 2 / (pi - 2).
torch::Tensor mode_timesteps(int64_t n, double scale, at::Generator gen);
// f(u) = 1 - 1 / (tan(pi u / 2) + 1), u ~ U(0, 1): the t of the cosine schedule's log-SNR.
torch::Tensor cosmap_timesteps(int64_t n, at::Generator gen);

// t' = a t / (1 + (a - 1) t): a > 1 moves timesteps towards noise, as SD3 does for larger
// images, whose pixels stay correlated at a given noise level. Monotone, fixes 0 and 1.
torch::Tensor shift_timesteps(const torch::Tensor& t, double shift);

// Draws n timesteps of the configured kind, then shifts them.
torch::Tensor sample_timesteps(const TimestepSampling& sampling, int64_t n, at::Generator gen);

}  // namespace genbox::diffusion
