// GELU with the tanh approximation (Hendrycks & Gimpel 2016), the DiT MLP's activation:
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), written as x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)).
#pragma once

#include <torch/types.h>

namespace genbox::nn {

// Same values and gradient as torch::gelu(x, "tanh"). For contiguous float32 CPU tensors on a
// CPU with AVX2 and FMA, one vectorised pass each way (ATen's CPU kernel spends about four
// times as long: it evaluates tanh element by element); otherwise ATen's own op.
torch::Tensor gelu_tanh(const torch::Tensor& x);

// Whether gelu_tanh takes its own CPU kernel on this machine.
bool fused_gelu_available();

}  // namespace genbox::nn
