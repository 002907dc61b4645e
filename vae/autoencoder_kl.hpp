// The KL autoencoder of latent diffusion (Rombach et al. 2022, "High-Resolution Image Synthesis
// with Latent Diffusion Models"), in diffusers' AutoencoderKL layout and names, so that the VAEs
// of Stable Diffusion 1.x/2.x/XL (4 latent channels) and of SD3 and FLUX (16) load from their
// diffusers folder (config.json + diffusion_pytorch_model.safetensors), strictly by name.
//
// Encoder: conv_in, down blocks (ResNet blocks with GroupNorm and SiLU, a stride-2 convolution
// after every block but the last), a middle block (ResNet, single-head self-attention over the
// positions, ResNet), GroupNorm, SiLU, conv_out to 2 x latent channels: the posterior's mean and
// log-variance, each [B, latent, H / f, W / f] with f = 2^(blocks - 1) (8 for the SD VAEs), after
// quant_conv where the config has it. Decoder: the mirror, nearest-neighbour x2 upsampling and
// one more ResNet block per up block, after post_quant_conv where the config has it.
// Images are [B, C, H, W] in [-1, 1]; latents as diffusers scales them for the diffusion model:
// (z - shift_factor) * scaling_factor (SD 1.x: 0.18215, no shift; SD3: 1.5305, 0.0609).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "nn/conv3x3.hpp"

namespace genbox::vae {

// config.json of a diffusers AutoencoderKL (the keys genbox uses; the others it accepts are noted
// in parse_autoencoder_config).
struct AutoencoderConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t latent_channels = 4;
  std::vector<int64_t> block_out_channels = {64};
  int64_t layers_per_block = 1;
  int64_t norm_num_groups = 32;
  double scaling_factor = 0.18215;
  double shift_factor = 0.0;  // null in the file: 0
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;

  // Pixels per latent position along each side: 2^(blocks - 1).
  int64_t downsampling() const { return int64_t(1) << (block_out_channels.size() - 1); }
};

// Parses config.json's text. A key diffusers' AutoencoderKL does not have, a block type other
// than DownEncoderBlock2D / UpDecoderBlock2D, an activation other than silu, or a value of the
// wrong kind or range is a DataError naming `source` and the key.
AutoencoderConfig parse_autoencoder_config(const std::string& json, const std::string& source);

// The config.json diffusers writes for `config` (with _class_name and the block types), which
// parse_autoencoder_config reads back to `config`.
std::string autoencoder_config_json(const AutoencoderConfig& config);

class ResnetBlockImpl : public torch::nn::Module {
 public:
  ResnetBlockImpl(int64_t in, int64_t out, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  nn::Conv3x3 conv1{nullptr}, conv2{nullptr};
  torch::nn::Conv2d conv_shortcut{nullptr};
};
TORCH_MODULE(ResnetBlock);

// Self-attention over the H x W positions, one head of all channels, with a residual.
class SpatialAttentionImpl : public torch::nn::Module {
 public:
  SpatialAttentionImpl(int64_t channels, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::GroupNorm group_norm{nullptr};
  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  torch::nn::ModuleList to_out;  // [Linear], as diffusers names it (to_out.0)
};
TORCH_MODULE(SpatialAttention);

// A ResNet block, the attention (unless the config leaves it out), a ResNet block.
class MidBlockImpl : public torch::nn::Module {
 public:
  MidBlockImpl(int64_t channels, int64_t groups, bool attention);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::ModuleList resnets, attentions;
};
TORCH_MODULE(MidBlock);

// `layers` ResNet blocks, then (unless last) a stride-2 3 x 3 convolution after padding the
// right and bottom by one (down) or a nearest x2 upsampling and a 3 x 3 convolution (up).
class ResampleBlockImpl : public torch::nn::Module {
 public:
  ResampleBlockImpl(int64_t in, int64_t out, int64_t layers, int64_t groups, bool down, bool resample);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::ModuleList resnets, resamplers;

 private:
  bool down_;
};
TORCH_MODULE(ResampleBlock);

class EncoderImpl : public torch::nn::Module {
 public:
  explicit EncoderImpl(const AutoencoderConfig& c);
  torch::Tensor forward(const torch::Tensor& x);  // [B, 2 x latent, h, w]

  nn::Conv3x3 conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList down_blocks;
  MidBlock mid_block{nullptr};
  torch::nn::GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(Encoder);

class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const AutoencoderConfig& c);
  torch::Tensor forward(const torch::Tensor& z);

  nn::Conv3x3 conv_in{nullptr}, conv_out{nullptr};
  MidBlock mid_block{nullptr};
  torch::nn::ModuleList up_blocks;
  torch::nn::GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(Decoder);

// The posterior N(mean, std^2) of a batch's latents, before scaling: each [B, latent, h, w].
struct Posterior {
  torch::Tensor mean, std;
};

class AutoencoderKLImpl : public torch::nn::Module {
 public:
  explicit AutoencoderKLImpl(const AutoencoderConfig& config);
  // Images [B, C, H, W] in [-1, 1] (H, W multiples of downsampling()) -> the posterior, with
  // diffusers' clamp of the log-variance to [-30, 20].
  Posterior encode(const torch::Tensor& images);
  // Unscaled latents [B, latent, h, w] -> images [B, C, h f, w f] (not clamped).
  torch::Tensor decode(const torch::Tensor& latents);
  // The diffusion model's latents from unscaled ones, and back.
  torch::Tensor scale(const torch::Tensor& latents) const;
  torch::Tensor unscale(const torch::Tensor& scaled) const;
  const AutoencoderConfig& config() const { return config_; }

  Encoder encoder{nullptr};
  Decoder decoder{nullptr};
  torch::nn::Conv2d quant_conv{nullptr}, post_quant_conv{nullptr};

 private:
  AutoencoderConfig config_;
};
TORCH_MODULE(AutoencoderKL);

// The VAE in a diffusers folder (config.json, diffusion_pytorch_model.safetensors) on `device`,
// in eval mode. A missing file, a missing or surplus tensor, a tensor of the wrong shape, a
// damaged file or a config it cannot build is a DataError naming the file (and the tensor or key).
AutoencoderKL load_autoencoder_kl(const std::filesystem::path& folder, const torch::Device& device);

// Writes `model` as a diffusers VAE folder (the folder created, each file written atomically):
// what load_autoencoder_kl and diffusers' AutoencoderKL.from_pretrained read.
void save_autoencoder_kl(const std::filesystem::path& folder, AutoencoderKL& model);

}  // namespace genbox::vae
