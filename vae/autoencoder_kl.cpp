#include "vae/autoencoder_kl.hpp"

#include <fmt/format.h>

#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/errors.hpp"
#include "base/fsutil.hpp"
#include "common/safetensors.hpp"

namespace genbox::vae {

namespace nnf = torch::nn::functional;

namespace {

constexpr double kEps = 1e-6;  // every GroupNorm of diffusers' AutoencoderKL

torch::nn::GroupNorm group_norm(int64_t groups, int64_t channels) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels).eps(kEps));
}

// The 1 x 1 convolutions and the downsamplers' stride-2 3 x 3 ones (after their own padding).
torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride));
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// config.json

AutoencoderConfig parse_autoencoder_config(const std::string& json, const std::string& source) {
  const nlohmann::json j = parse_json(json, source);
  if (!j.is_object()) throw DataError(fmt::format("{}: not a JSON object", source));
  AutoencoderConfig c;
  auto fail = [&](const std::string& key, const std::string& what) {
    throw DataError(fmt::format("{}: \"{}\" {}", source, key, what));
  };
  auto integer = [&](const std::string& key, const nlohmann::json& v, int64_t low, int64_t high) {
    if (!v.is_number_integer() || v.get<int64_t>() < low || v.get<int64_t>() > high)
      fail(key, fmt::format("must be an integer in [{}, {}]", low, high));
    return v.get<int64_t>();
  };
  auto boolean = [&](const std::string& key, const nlohmann::json& v) {
    if (!v.is_boolean()) fail(key, "must be true or false");
    return v.get<bool>();
  };
  auto number = [&](const std::string& key, const nlohmann::json& v) {
    if (!v.is_number()) fail(key, "must be a number");
    return v.get<double>();
  };
  auto block_types = [&](const std::string& key, const nlohmann::json& v, const std::string& only) {
    if (!v.is_array() || v.empty()) fail(key, "must be a non-empty list");
    for (const auto& t : v)
      if (t != only) fail(key, fmt::format("holds {}; genbox builds {} only", t.dump(), only));
    return static_cast<int64_t>(v.size());
  };
  int64_t downs = 0, ups = 0;
  for (const auto& [key, v] : j.items()) {
    if (key == "_class_name") {
      if (v != "AutoencoderKL") fail(key, fmt::format("is {}, not \"AutoencoderKL\"", v.dump()));
    } else if (key == "_diffusers_version" || key == "_name_or_path" || key == "sample_size" || key == "force_upcast" ||
               key == "latents_mean" || key == "latents_std") {
      // Facts about the checkpoint that building the network does not need.
    } else if (key == "in_channels") {
      c.in_channels = integer(key, v, 1, 64);
    } else if (key == "out_channels") {
      c.out_channels = integer(key, v, 1, 64);
    } else if (key == "latent_channels") {
      c.latent_channels = integer(key, v, 1, 1024);
    } else if (key == "layers_per_block") {
      c.layers_per_block = integer(key, v, 1, 64);
    } else if (key == "norm_num_groups") {
      c.norm_num_groups = integer(key, v, 1, 1024);
    } else if (key == "block_out_channels") {
      if (!v.is_array() || v.empty()) fail(key, "must be a non-empty list of channel counts");
      c.block_out_channels.clear();
      for (const auto& n : v) c.block_out_channels.push_back(integer(key, n, 1, 65536));
    } else if (key == "down_block_types") {
      downs = block_types(key, v, "DownEncoderBlock2D");
    } else if (key == "up_block_types") {
      ups = block_types(key, v, "UpDecoderBlock2D");
    } else if (key == "act_fn") {
      if (v != "silu") fail(key, fmt::format("is {}; genbox builds \"silu\" only", v.dump()));
    } else if (key == "scaling_factor") {
      c.scaling_factor = number(key, v);
    } else if (key == "shift_factor") {
      c.shift_factor = v.is_null() ? 0.0 : number(key, v);
    } else if (key == "use_quant_conv") {
      c.use_quant_conv = boolean(key, v);
    } else if (key == "use_post_quant_conv") {
      c.use_post_quant_conv = boolean(key, v);
    } else if (key == "mid_block_add_attention") {
      c.mid_block_add_attention = boolean(key, v);
    } else {
      fail(key, "is not a key of diffusers' AutoencoderKL config");
    }
  }
  const auto blocks = static_cast<int64_t>(c.block_out_channels.size());
  if ((downs && downs != blocks) || (ups && ups != blocks))
    fail("block_out_channels",
         fmt::format("has {} entries but the config lists {} down and {} up blocks", blocks, downs, ups));
  for (int64_t channels : c.block_out_channels)
    if (channels % c.norm_num_groups != 0)
      fail("norm_num_groups", fmt::format("= {} does not divide the block width {}", c.norm_num_groups, channels));
  if (c.scaling_factor == 0) fail("scaling_factor", "must not be 0");
  return c;
}

std::string autoencoder_config_json(const AutoencoderConfig& c) {
  const auto blocks = c.block_out_channels.size();
  const nlohmann::json j = {{"_class_name", "AutoencoderKL"},
                            {"act_fn", "silu"},
                            {"block_out_channels", c.block_out_channels},
                            {"down_block_types", std::vector<std::string>(blocks, "DownEncoderBlock2D")},
                            {"up_block_types", std::vector<std::string>(blocks, "UpDecoderBlock2D")},
                            {"in_channels", c.in_channels},
                            {"out_channels", c.out_channels},
                            {"latent_channels", c.latent_channels},
                            {"layers_per_block", c.layers_per_block},
                            {"norm_num_groups", c.norm_num_groups},
                            {"scaling_factor", c.scaling_factor},
                            {"shift_factor", c.shift_factor},
                            {"use_quant_conv", c.use_quant_conv},
                            {"use_post_quant_conv", c.use_post_quant_conv},
                            {"mid_block_add_attention", c.mid_block_add_attention}};
  return j.dump(2) + "\n";
}

// ------------------------------------------------------------------------------------------------
// Blocks

ResnetBlockImpl::ResnetBlockImpl(int64_t in, int64_t out, int64_t groups) {
  norm1 = register_module("norm1", group_norm(groups, in));
  conv1 = register_module("conv1", nn::Conv3x3(in, out));
  norm2 = register_module("norm2", group_norm(groups, out));
  conv2 = register_module("conv2", nn::Conv3x3(out, out));
  if (in != out) conv_shortcut = register_module("conv_shortcut", conv(in, out, 1));
}

torch::Tensor ResnetBlockImpl::forward(const torch::Tensor& x) {
  const torch::Tensor h = conv1(torch::silu(norm1(x)));
  return conv2(torch::silu(norm2(h)), conv_shortcut ? conv_shortcut(x) : x);
}

SpatialAttentionImpl::SpatialAttentionImpl(int64_t channels, int64_t groups) {
  group_norm = register_module("group_norm", vae::group_norm(groups, channels));
  to_q = register_module("to_q", torch::nn::Linear(channels, channels));
  to_k = register_module("to_k", torch::nn::Linear(channels, channels));
  to_v = register_module("to_v", torch::nn::Linear(channels, channels));
  to_out->push_back(torch::nn::Linear(channels, channels));
  register_module("to_out", to_out);
}

torch::Tensor SpatialAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const torch::Tensor tokens = group_norm(x).reshape({b, c, h * w}).transpose(1, 2);     // [B, HW, C]
  auto head = [&](torch::nn::Linear& project) { return project(tokens).unsqueeze(1); };  // [B, 1, HW, C]
  torch::Tensor attended = at::scaled_dot_product_attention(head(to_q), head(to_k), head(to_v)).squeeze(1);
  torch::Tensor out = to_out[0]->as<torch::nn::Linear>()->forward(attended);
  return out.transpose(1, 2).reshape({b, c, h, w}) + x;
}

MidBlockImpl::MidBlockImpl(int64_t channels, int64_t groups, bool attention) {
  resnets->push_back(ResnetBlock(channels, channels, groups));
  if (attention) attentions->push_back(SpatialAttention(channels, groups));
  resnets->push_back(ResnetBlock(channels, channels, groups));
  register_module("resnets", resnets);
  if (attention) register_module("attentions", attentions);
}

torch::Tensor MidBlockImpl::forward(torch::Tensor x) {
  x = resnets[0]->as<ResnetBlock>()->forward(x);
  if (!attentions->is_empty()) x = attentions[0]->as<SpatialAttention>()->forward(x);
  return resnets[1]->as<ResnetBlock>()->forward(x);
}

ResampleBlockImpl::ResampleBlockImpl(int64_t in, int64_t out, int64_t layers, int64_t groups, bool down, bool resample)
    : down_(down) {
  for (int64_t i = 0; i < layers; ++i) resnets->push_back(ResnetBlock(i == 0 ? in : out, out, groups));
  register_module("resnets", resnets);
  if (!resample) return;
  // diffusers' Downsample2D / Upsample2D hold their convolution as "conv".
  auto holder = std::make_shared<torch::nn::Module>();
  if (down)
    holder->register_module("conv", conv(out, out, 3, 2));
  else
    holder->register_module("conv", nn::Conv3x3(out, out));
  resamplers->push_back(holder);
  register_module(down ? "downsamplers" : "upsamplers", resamplers);
}

torch::Tensor ResampleBlockImpl::forward(torch::Tensor x) {
  for (const auto& resnet : *resnets) x = resnet->as<ResnetBlock>()->forward(x);
  if (resamplers->is_empty()) return x;
  const auto conv = resamplers[0]->named_children()["conv"];
  if (down_) return conv->as<torch::nn::Conv2d>()->forward(nnf::pad(x, nnf::PadFuncOptions({0, 1, 0, 1})));
  return conv->as<nn::Conv3x3>()->forward(nnf::interpolate(
      x, nnf::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest)));
}

EncoderImpl::EncoderImpl(const AutoencoderConfig& c) {
  const auto& widths = c.block_out_channels;
  conv_in = register_module("conv_in", nn::Conv3x3(c.in_channels, widths[0]));
  for (size_t i = 0; i < widths.size(); ++i)
    down_blocks->push_back(ResampleBlock(i == 0 ? widths[0] : widths[i - 1], widths[i], c.layers_per_block,
                                         c.norm_num_groups, true, i + 1 < widths.size()));
  register_module("down_blocks", down_blocks);
  mid_block = register_module("mid_block", MidBlock(widths.back(), c.norm_num_groups, c.mid_block_add_attention));
  conv_norm_out = register_module("conv_norm_out", group_norm(c.norm_num_groups, widths.back()));
  conv_out = register_module("conv_out", nn::Conv3x3(widths.back(), 2 * c.latent_channels));
}

torch::Tensor EncoderImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = conv_in(x);
  for (const auto& block : *down_blocks) h = block->as<ResampleBlock>()->forward(h);
  return conv_out(torch::silu(conv_norm_out(mid_block(h))));
}

DecoderImpl::DecoderImpl(const AutoencoderConfig& c) {
  const std::vector<int64_t> widths(c.block_out_channels.rbegin(), c.block_out_channels.rend());
  conv_in = register_module("conv_in", nn::Conv3x3(c.latent_channels, widths[0]));
  mid_block = register_module("mid_block", MidBlock(widths[0], c.norm_num_groups, c.mid_block_add_attention));
  for (size_t i = 0; i < widths.size(); ++i)
    up_blocks->push_back(ResampleBlock(i == 0 ? widths[0] : widths[i - 1], widths[i], c.layers_per_block + 1,
                                       c.norm_num_groups, false, i + 1 < widths.size()));
  register_module("up_blocks", up_blocks);
  conv_norm_out = register_module("conv_norm_out", group_norm(c.norm_num_groups, widths.back()));
  conv_out = register_module("conv_out", nn::Conv3x3(widths.back(), c.out_channels));
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& z) {
  torch::Tensor h = mid_block(conv_in(z));
  for (const auto& block : *up_blocks) h = block->as<ResampleBlock>()->forward(h);
  return conv_out(torch::silu(conv_norm_out(h)));
}

AutoencoderKLImpl::AutoencoderKLImpl(const AutoencoderConfig& config) : config_(config) {
  encoder = register_module("encoder", Encoder(config));
  decoder = register_module("decoder", Decoder(config));
  if (config.use_quant_conv)
    quant_conv = register_module("quant_conv", conv(2 * config.latent_channels, 2 * config.latent_channels, 1));
  if (config.use_post_quant_conv)
    post_quant_conv = register_module("post_quant_conv", conv(config.latent_channels, config.latent_channels, 1));
}

Posterior AutoencoderKLImpl::encode(const torch::Tensor& images) {
  torch::Tensor moments = encoder(images.contiguous(torch::MemoryFormat::ChannelsLast));
  if (quant_conv) moments = quant_conv(moments);
  std::vector<torch::Tensor> halves = moments.chunk(2, 1);
  return {halves[0], (0.5 * halves[1].clamp(-30.0, 20.0)).exp()};
}

torch::Tensor AutoencoderKLImpl::decode(const torch::Tensor& latents) {
  const torch::Tensor z = latents.contiguous(torch::MemoryFormat::ChannelsLast);
  return decoder(post_quant_conv ? post_quant_conv(z) : z);
}

torch::Tensor AutoencoderKLImpl::scale(const torch::Tensor& latents) const {
  return (latents - config_.shift_factor) * config_.scaling_factor;
}

torch::Tensor AutoencoderKLImpl::unscale(const torch::Tensor& scaled) const {
  return scaled / config_.scaling_factor + config_.shift_factor;
}

// ------------------------------------------------------------------------------------------------
// Loading

AutoencoderKL load_autoencoder_kl(const std::filesystem::path& folder, const torch::Device& device) {
  const std::filesystem::path config_file = folder / "config.json",
                              weights_file = folder / "diffusion_pytorch_model.safetensors";
  for (const auto& file : {config_file, weights_file})
    if (!std::filesystem::is_regular_file(file))
      throw DataError(
          fmt::format("{}: no such file (a diffusers VAE folder holds config.json and "
                      "diffusion_pytorch_model.safetensors)",
                      file.string()));
  const AutoencoderConfig config = parse_autoencoder_config(read_file(config_file), config_file.string());
  // The file's tensors first, the network after, each tensor dropped once copied: at most the file
  // and the network are in memory together, never the file's bytes as well (the peak that counts
  // against diffusers').
  std::map<std::string, torch::Tensor> file;
  for (auto& [name, tensor] : read_safetensors(weights_file).tensors) file.emplace(name, tensor);
  AutoencoderKL model(config);
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters()) {
    const auto found = file.find(item.key());
    if (found == file.end()) throw DataError(fmt::format("{}: no tensor {}", weights_file.string(), item.key()));
    if (found->second.sizes() != item.value().sizes())
      throw DataError(fmt::format("{}: {} is {}, the config's network has {}", weights_file.string(), item.key(),
                                  c10::str(found->second.sizes()), c10::str(item.value().sizes())));
    item.value().copy_(found->second);
    file.erase(found);
  }
  if (!file.empty())
    throw DataError(fmt::format("{}: {} is not a tensor of the network config.json describes", weights_file.string(),
                                file.begin()->first));
  model->to(device);
  // Channels-last convolutions: oneDNN's direct kernels, faster than the default layout's on the CPU.
  for (auto& p : model->parameters())
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  model->eval();
  return model;
}

void save_autoencoder_kl(const std::filesystem::path& folder, AutoencoderKL& model) {
  std::filesystem::create_directories(folder);
  Safetensors contents;
  for (const auto& item : model->named_parameters())
    contents.tensors.emplace_back(item.key(), item.value().detach().to(torch::kCPU).contiguous());
  write_safetensors(folder / "diffusion_pytorch_model.safetensors", contents);
  write_file_atomic(folder / "config.json", autoencoder_config_json(model->config()));
}

}  // namespace genbox::vae
