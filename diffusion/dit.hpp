// Diffusion transformer (Peebles & Xie 2023) as used for rectified flow in SD3: patch tokens with
// a fixed 2D sin-cos position embedding, transformer blocks modulated by the conditioning vector
// through adaLN-Zero, and a final adaLN layer that maps tokens back to patches.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <string>

#include "diffusion/conditioning.hpp"
#include "nn/attention.hpp"
#include "nn/mlp.hpp"

namespace genbox::diffusion {

struct DitOptions {
  int64_t image_size = 28;
  int64_t channels = 1;
  int64_t patch = 2;
  int64_t width = 128;
  int64_t depth = 4;
  int64_t heads = 4;
  int64_t mlp_ratio = 4;
  int64_t num_classes = 10;  // 0 = unconditional
  bool qk_norm = true;
  std::string mlp = "gelu_tanh";  // or "swiglu"
};

// "tiny" (64 wide, 2 deep, 2 heads, patch 4: about 20 training steps/s at batch 64 on 28 x 28
// with 2 CPU threads), "small" (DiT-S: 384, 12, 6) and "base" (DiT-B: 768, 12, 12); fields other
// than width, depth, heads and patch keep DitOptions' defaults.
DitOptions dit_preset(const std::string& name);
// `base` with the preset's width, depth, heads and patch, each replaced by the given value when
// that is not 0.
DitOptions with_preset(DitOptions base, const std::string& preset, int64_t width, int64_t depth, int64_t heads,
                       int64_t patch);

// FLOPs (2 x multiply-adds) of one image's forward pass, counting the matmuls only: what bench
// divides by time to say how much of the machine's matmul speed the model reaches.
double dit_forward_flops(const DitOptions& options);

// [B, C, H, W] -> [B, (H/p) * (W/p), p * p * C]: tokens in row-major order of the patch grid,
// each the patch's pixels ordered (row in patch, column in patch, channel).
torch::Tensor patchify(const torch::Tensor& x, int64_t p);
// The inverse of patchify for an image of channels x h x w.
torch::Tensor unpatchify(const torch::Tensor& tokens, int64_t p, int64_t channels, int64_t h, int64_t w);

// x + gate * f(norm(x) * (1 + scale) + shift) for attention then MLP, with shift, scale and gate
// from a zero-initialised linear map of SiLU(c): a fresh block is exactly the identity.
class DitBlockImpl : public torch::nn::Module {
 public:
  DitBlockImpl(int64_t width, int64_t heads, int64_t mlp_hidden, const std::string& mlp, bool qk_norm);
  // x: [B, T, width], c: [B, width].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& c);

  nn::SelfAttention attention{nullptr};
  nn::Mlp mlp{nullptr};
  torch::nn::Linear modulation{nullptr};  // width -> 6 * width
};
TORCH_MODULE(DitBlock);

// norm(x) * (1 + scale) + shift, then a linear map to the patch pixels; both the modulation and
// the output map start at zero, so a fresh DiT predicts zero everywhere.
class DitFinalLayerImpl : public torch::nn::Module {
 public:
  DitFinalLayerImpl(int64_t width, int64_t patch_dim);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& c);

  torch::nn::Linear modulation{nullptr};  // width -> 2 * width
  torch::nn::Linear output{nullptr};
};
TORCH_MODULE(DitFinalLayer);

class DitImpl : public torch::nn::Module {
 public:
  explicit DitImpl(const DitOptions& options);
  // x: [B, C, H, W], t: [B] float in [0, 1], labels: [B] int64 in [0, num_classes] where
  // num_classes is the null class. Returns the predicted velocity, shaped like x.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& labels);

  int64_t null_class() const { return options_.num_classes; }
  const DitOptions& options() const { return options_; }

  torch::nn::Linear patch_embedding{nullptr};
  Conditioning conditioning{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  DitFinalLayer final_layer{nullptr};

 private:
  DitOptions options_;
  torch::Tensor position_embedding_;  // fixed buffer [1, tokens, width]
};
TORCH_MODULE(Dit);

}  // namespace genbox::diffusion
