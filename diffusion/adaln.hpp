// The DiT's adaLN-Zero maps over tokens (Peebles & Xie 2023, section 3.2), per image b and
// channel c of x [B, T, C] with scale, shift, gate [B, C]:
//   modulate:       x * (1 + scale) + shift
//   gated_residual: x + gate * y
// On float32 CPU tensors each is an autograd function whose backward pass reads the incoming
// gradient and the saved tokens once and writes every gradient in that pass (the input's, and
// the per-image sums over tokens for scale, shift or gate); addcmul's backward pass made two
// full-size products and a reduction. Elsewhere (CUDA, other dtypes) they are one addcmul.
#pragma once

#include <torch/types.h>

namespace genbox::diffusion {

torch::Tensor modulate(const torch::Tensor& x, const torch::Tensor& shift, const torch::Tensor& scale);
torch::Tensor gated_residual(const torch::Tensor& x, const torch::Tensor& gate, const torch::Tensor& y);

// modulate(layer_norm(x), shift, scale): the layer norm over C without an affine map (the
// modulation takes that role), eps 1e-6 as DiT's. When no gradient is wanted (sampling) on
// float32 CPU tensors with CPU autocast off, one pass per token (mean, variance, output; AVX2 where C is a multiple of
// 8); otherwise ATen's layer norm and modulate, whose backward passes training needs.
torch::Tensor norm_modulate(const torch::Tensor& x, const torch::Tensor& shift, const torch::Tensor& scale);

// The same maps as single addcmuls, whatever the device: the fused functions' second
// implementation in tests.
torch::Tensor modulate_by_addcmul(const torch::Tensor& x, const torch::Tensor& shift, const torch::Tensor& scale);
torch::Tensor gated_residual_by_addcmul(const torch::Tensor& x, const torch::Tensor& gate, const torch::Tensor& y);
torch::Tensor norm_modulate_by_ops(const torch::Tensor& x, const torch::Tensor& shift, const torch::Tensor& scale);

}  // namespace genbox::diffusion
