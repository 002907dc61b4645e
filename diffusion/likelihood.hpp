// Exact likelihood of a flow model through its probability-flow ODE (the instantaneous change
// of variables of Chen et al. 2018, with the trace estimator of FFJORD, Grathwohl et al. 2019).
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <functional>

#include "diffusion/samplers.hpp"

namespace genbox::diffusion {

// A map applied to each example of a batch independently: f(x) [B, ...] -> [B, ...].
using BatchMapFn = std::function<torch::Tensor(const torch::Tensor&)>;

// Hutchinson's estimate probe^T (df/dx) probe of tr(df/dx) per example, [B], from one
// vector-Jacobian product. Unbiased for probes with independent zero-mean, unit-variance
// entries; Rademacher probes give the least variance.
torch::Tensor hutchinson_divergence(const BatchMapFn& f, const torch::Tensor& x, const torch::Tensor& probe);

// tr(df/dx) per example, [B], from one vector-Jacobian product per input dimension: the oracle
// for small inputs.
torch::Tensor exact_divergence(const BatchMapFn& f, const torch::Tensor& x);

// log p(x0) in nats per example, [B], for the density that the velocity field carries from
// N(0, I) at t = 1 to data at t = 0: integrating dx/dt = v(x, t) from t = 0 to 1 with `steps`
// Heun steps, log p_0(x0) = log N(x1; 0, I) + integral_0^1 div v(x_t, t) dt. The divergence is
// estimated with `probes` Rademacher probes drawn once per trajectory from `gen` (fixed probes
// make the integrand a smooth function of t, which the trapezoid rule needs) and averaged.
// Gradients are taken with respect to x only; the result carries no graph.
torch::Tensor ode_log_likelihood(const VelocityFn& velocity, const torch::Tensor& x0, int64_t steps, at::Generator gen,
                                 int64_t probes = 1);

}  // namespace genbox::diffusion
