#include "diffusion/dit.hpp"

#include <torch/torch.h>
#include <stdexcept>

#include "diffusion/adaln.hpp"
#include "nn/position.hpp"

namespace genbox::diffusion {

namespace {
void zero_linear(torch::nn::Linear& layer) {
  torch::NoGradGuard no_grad;
  layer->weight.zero_();
  layer->bias.zero_();
}

// DiT's initialisation of every linear map of the token path: Xavier uniform weights, zero biases.
void xavier_linear(torch::nn::Linear& layer) {
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(layer->weight);
  layer->bias.zero_();
}

void check(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}
}  // namespace

DitOptions dit_preset(const std::string& name) {
  DitOptions options;
  if (name == "tiny") {
    options.width = 64;
    options.depth = 2;
    options.heads = 2;
    options.patch = 4;
  } else if (name == "small") {
    options.width = 384;
    options.depth = 12;
    options.heads = 6;
  } else if (name == "base") {
    options.width = 768;
    options.depth = 12;
    options.heads = 12;
  } else {
    throw std::invalid_argument("unknown DiT preset '" + name + "' (tiny, small, base)");
  }
  return options;
}

torch::Tensor patchify(const torch::Tensor& x, int64_t p) {
  int64_t batch = x.size(0), channels = x.size(1), h = x.size(2), w = x.size(3);
  check(h % p == 0 && w % p == 0, "image size is not divisible by the patch size");
  return x.reshape({batch, channels, h / p, p, w / p, p})
      .permute({0, 2, 4, 3, 5, 1})
      .reshape({batch, (h / p) * (w / p), p * p * channels});
}

torch::Tensor unpatchify(const torch::Tensor& tokens, int64_t p, int64_t channels, int64_t h, int64_t w) {
  int64_t batch = tokens.size(0);
  return tokens.reshape({batch, h / p, w / p, p, p, channels})
      .permute({0, 5, 1, 3, 2, 4})
      .reshape({batch, channels, h, w});
}

DitBlockImpl::DitBlockImpl(int64_t width, int64_t heads, int64_t mlp_hidden, const std::string& mlp_kind,
                           bool qk_norm) {
  attention = register_module("attention", nn::SelfAttention(width, heads, qk_norm));
  mlp = register_module("mlp", nn::Mlp(width, mlp_hidden, mlp_kind));
  modulation = register_module("modulation", torch::nn::Linear(width, 6 * width));
  xavier_linear(attention->qkv);
  xavier_linear(attention->proj);
  xavier_linear(mlp->fc1);
  xavier_linear(mlp->fc2);
  zero_linear(modulation);
}

torch::Tensor DitBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& c) {
  auto m = modulation(torch::silu(c)).chunk(6, 1);
  torch::Tensor h = gated_residual(x, m[2], attention(norm_modulate(x, m[0], m[1])));
  return gated_residual(h, m[5], mlp(norm_modulate(h, m[3], m[4])));
}

DitFinalLayerImpl::DitFinalLayerImpl(int64_t width, int64_t patch_dim) {
  modulation = register_module("modulation", torch::nn::Linear(width, 2 * width));
  output = register_module("output", torch::nn::Linear(width, patch_dim));
  zero_linear(modulation);
  zero_linear(output);
}

torch::Tensor DitFinalLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& c) {
  auto m = modulation(torch::silu(c)).chunk(2, 1);
  return output(norm_modulate(x, m[0], m[1]));
}

DitImpl::DitImpl(const DitOptions& options) : options_(options) {
  const DitOptions& o = options;
  check(o.patch > 0 && o.image_size % o.patch == 0, "DiT image_size must be divisible by patch");
  check(o.width % 4 == 0, "DiT width must be divisible by 4 for the 2D position embedding");
  check(o.heads > 0 && o.width % o.heads == 0, "DiT width must be divisible by heads");
  check(o.depth >= 0 && o.mlp_ratio > 0 && o.channels > 0, "DiT depth, mlp_ratio and channels must be positive");
  int64_t grid = o.image_size / o.patch;
  // SwiGLU's two input maps get 2/3 of the hidden width so the MLP keeps GELU's parameter count.
  int64_t mlp_hidden = o.mlp == "swiglu" ? 2 * o.mlp_ratio * o.width / 3 : o.mlp_ratio * o.width;

  patch_embedding = register_module("patch_embedding", torch::nn::Linear(o.patch * o.patch * o.channels, o.width));
  xavier_linear(patch_embedding);
  position_embedding_ = register_buffer("position_embedding", nn::sincos_2d(o.width, grid, grid).unsqueeze(0));
  conditioning = register_module("conditioning", Conditioning(o.width, o.num_classes));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.depth; ++i) blocks->push_back(DitBlock(o.width, o.heads, mlp_hidden, o.mlp, o.qk_norm));
  final_layer = register_module("final_layer", DitFinalLayer(o.width, o.patch * o.patch * o.channels));
}

torch::Tensor DitImpl::forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& labels) {
  torch::Tensor tokens = patch_embedding(patchify(x, options_.patch)) + position_embedding_;
  torch::Tensor c = conditioning(t, labels);
  for (const auto& block : *blocks) tokens = block->as<DitBlockImpl>()->forward(tokens, c);
  return unpatchify(final_layer(tokens, c), options_.patch, x.size(1), x.size(2), x.size(3));
}

DitOptions with_preset(DitOptions base, const std::string& preset, int64_t width, int64_t depth, int64_t heads,
                       int64_t patch) {
  DitOptions p = dit_preset(preset);
  base.width = width ? width : p.width;
  base.depth = depth ? depth : p.depth;
  base.heads = heads ? heads : p.heads;
  base.patch = patch ? patch : p.patch;
  return base;
}

double dit_forward_flops(const DitOptions& o) {
  double tokens = double(o.image_size / o.patch) * double(o.image_size / o.patch);
  double d = double(o.width), patch_dim = double(o.patch * o.patch * o.channels);
  double per_block = tokens * (3 * d * d + d * d + 2 * double(o.mlp_ratio) * d * d)  // qkv, proj, MLP
                     + 2 * tokens * tokens * d                                       // QK^T and AV
                     + d * 6 * d;                                                    // adaLN-Zero
  double outside = tokens * patch_dim * d * 2 + d * 2 * d + 256 * d + d * d;         // patches in/out, final, time MLP
  return 2 * (double(o.depth) * per_block + outside);
}

}  // namespace genbox::diffusion
