// The VAE's shapes, its config.json reading and its loading by name, without diffusers.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "common/safetensors.hpp"
#include "tests/support.hpp"
#include "vae/autoencoder_kl.hpp"

using namespace genbox;
using namespace genbox::vae;
using namespace genbox::testing;

namespace {

AutoencoderConfig small_config() {
  AutoencoderConfig c;
  c.latent_channels = 4;
  c.block_out_channels = {16, 32};
  c.norm_num_groups = 8;
  return c;
}

nlohmann::json config_json() {
  return {{"_class_name", "AutoencoderKL"},
          {"_diffusers_version", "0.42.1"},
          {"act_fn", "silu"},
          {"block_out_channels", {16, 32}},
          {"down_block_types", {"DownEncoderBlock2D", "DownEncoderBlock2D"}},
          {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D"}},
          {"in_channels", 3},
          {"out_channels", 3},
          {"latent_channels", 4},
          {"layers_per_block", 1},
          {"norm_num_groups", 8},
          {"sample_size", 32},
          {"scaling_factor", 0.5},
          {"shift_factor", nullptr},
          {"force_upcast", true},
          {"latents_mean", nullptr},
          {"latents_std", nullptr},
          {"use_quant_conv", true},
          {"use_post_quant_conv", true},
          {"mid_block_add_attention", true}};
}

// A VAE folder holding `model`'s weights under diffusers' names and `config`.
void write_folder(const std::filesystem::path& dir, AutoencoderKL& model, const nlohmann::json& config) {
  std::filesystem::create_directories(dir);
  write_text(dir / "config.json", config.dump(2));
  Safetensors contents;
  for (const auto& item : model->named_parameters()) contents.tensors.emplace_back(item.key(), item.value().detach());
  write_safetensors(dir / "diffusion_pytorch_model.safetensors", contents);
}

}  // namespace

TEST_CASE("the VAE maps [B, C, H, W] to latents H/f x W/f and back, with diffusers' scaling") {
  torch::manual_seed(1);
  AutoencoderKL vae(small_config());
  CHECK(vae->config().downsampling() == 2);
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::rand({2, 3, 16, 12}) * 2 - 1;
  const Posterior p = vae->encode(x);
  CHECK(p.mean.sizes() == torch::IntArrayRef({2, 4, 8, 6}));
  CHECK(p.std.sizes() == p.mean.sizes());
  CHECK(p.std.min().item<double>() > 0);
  CHECK(vae->decode(p.mean).sizes() == x.sizes());
  AutoencoderConfig shifted = small_config();
  shifted.scaling_factor = 1.5305;
  shifted.shift_factor = 0.0609;
  AutoencoderKL sd3_like(shifted);
  CHECK(torch::allclose(sd3_like->scale(p.mean), (p.mean - 0.0609) * 1.5305));
  CHECK(torch::allclose(sd3_like->unscale(sd3_like->scale(p.mean)), p.mean, 1e-6, 1e-6));
}

TEST_CASE(
    "a VAE folder loads strictly by name; a missing, surplus or misshapen tensor and a bad config are DataErrors") {
  TempDir dir;
  torch::manual_seed(2);
  AutoencoderKL original(small_config());
  {
    torch::NoGradGuard no_grad;
    for (auto& p : original->parameters()) p.normal_(0, 0.1);
  }
  write_folder(dir / "good", original, config_json());
  AutoencoderKL loaded = load_autoencoder_kl(dir / "good", torch::kCPU);
  CHECK(loaded->config().scaling_factor == 0.5);
  CHECK(loaded->config().shift_factor == 0.0);
  const auto theirs = original->named_parameters();
  for (const auto& item : loaded->named_parameters()) CHECK(torch::equal(item.value(), theirs[item.key()]));

  auto error_of = [&](const std::string& name, const std::function<void(const std::filesystem::path&)>& spoil) {
    write_folder(dir / name, original, config_json());
    spoil(dir / name);
    return data_error_of([&] { load_autoencoder_kl(dir / name, torch::kCPU); });
  };
  auto rewrite = [](const std::filesystem::path& folder, const std::function<void(NamedTensors&)>& edit) {
    Safetensors contents = read_safetensors(folder / "diffusion_pytorch_model.safetensors");
    edit(contents.tensors);
    write_safetensors(folder / "diffusion_pytorch_model.safetensors", contents);
  };
  CHECK(error_of("missing", [&](const auto& f) {
          rewrite(f, [](NamedTensors& t) { t.erase(t.begin()); });
        }).find("no tensor encoder.conv_in.weight") != std::string::npos);
  CHECK(error_of("surplus", [&](const auto& f) {
          rewrite(f, [](NamedTensors& t) { t.emplace_back("decoder.extra.weight", torch::zeros({2})); });
        }).find("decoder.extra.weight is not a tensor of the network") != std::string::npos);
  CHECK(error_of("shape", [&](const auto& f) {
          rewrite(f, [](NamedTensors& t) {
            for (auto& [name, tensor] : t)
              if (name == "quant_conv.bias") tensor = torch::zeros({7});
          });
        }).find("quant_conv.bias is [7]") != std::string::npos);
  CHECK(error_of("key", [&](const auto& f) {
          nlohmann::json c = config_json();
          c["attention_heads"] = 4;
          write_text(f / "config.json", c.dump());
        }).find("\"attention_heads\" is not a key of diffusers' AutoencoderKL config") != std::string::npos);
  CHECK(error_of("block", [&](const auto& f) {
          nlohmann::json c = config_json();
          c["down_block_types"][1] = "AttnDownEncoderBlock2D";
          write_text(f / "config.json", c.dump());
        }).find("genbox builds DownEncoderBlock2D only") != std::string::npos);
  CHECK(error_of("damaged", [&](const auto& f) {
          std::string bytes = read_text(f / "diffusion_pytorch_model.safetensors");
          write_text(f / "diffusion_pytorch_model.safetensors", bytes.substr(0, bytes.size() / 2));
        }).find("diffusion_pytorch_model.safetensors") != std::string::npos);
  CHECK(error_of("no weights", [&](const auto& f) {
          std::filesystem::remove(f / "diffusion_pytorch_model.safetensors");
        }).find("no such file") != std::string::npos);
}

TEST_CASE("a saved VAE folder loads back to the same network and config") {
  TempDir dir;
  AutoencoderConfig c = small_config();
  c.in_channels = c.out_channels = 1;
  c.use_quant_conv = false;
  c.mid_block_add_attention = false;
  c.scaling_factor = 1.5305;
  c.shift_factor = 0.0609;
  torch::manual_seed(4);
  AutoencoderKL original(c);
  save_autoencoder_kl(dir / "saved", original);
  const AutoencoderConfig read =
      parse_autoencoder_config(read_text(dir / "saved/config.json"), (dir / "saved/config.json").string());
  CHECK(read.in_channels == 1);
  CHECK(read.block_out_channels == c.block_out_channels);
  CHECK(read.norm_num_groups == c.norm_num_groups);
  CHECK_FALSE(read.use_quant_conv);
  CHECK(read.use_post_quant_conv);
  CHECK_FALSE(read.mid_block_add_attention);
  CHECK(read.scaling_factor == 1.5305);
  CHECK(read.shift_factor == 0.0609);
  AutoencoderKL loaded = load_autoencoder_kl(dir / "saved", torch::kCPU);
  const auto theirs = original->named_parameters();
  CHECK(loaded->named_parameters().size() == theirs.size());
  for (const auto& item : loaded->named_parameters()) CHECK(torch::equal(item.value(), theirs[item.key()]));
}
