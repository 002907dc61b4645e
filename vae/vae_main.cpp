// vae: diffusers VAE folders from the command line, for the latent-space DiT (data.latents.vae).
//
//   vae init DIR          a VAE folder with random weights in the shapes of vae.layout (tiny, sd,
//                         sd3): the latent pipeline end to end before real weights are at hand;
//                         its decodings are noise-like pictures
//   vae reconstruct DIR --out FILE.png
//                         the first vae.images test images of data.* beside their encode-decode,
//                         with the PSNR: how much of your images the VAE keeps, the ceiling of a
//                         latent model's samples
#include <fmt/format.h>

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "base/config.hpp"
#include "base/errors.hpp"
#include "base/settings.hpp"
#include "common/data/sources.hpp"
#include "common/device.hpp"
#include "common/images.hpp"
#include "common/program.hpp"
#include "vae/autoencoder_kl.hpp"
#include "vae/latent_space.hpp"

using namespace genbox;
using namespace genbox::vae;

namespace {

struct VaeToolConfig {
  DeviceSettings device;
  DataSource data;
  std::string layout = "tiny";
  int64_t channels = 3;
  int64_t seed = 0;
  int64_t images = 16;
  int64_t batch_size = 16;
};

Schema describe(VaeToolConfig& c) {
  Schema s;
  describe(s, c.device);
  describe(s, c.data);
  s.add_choice("vae.layout", c.layout, {"tiny", "sd", "sd3"},
               "init's shapes: tiny (2 blocks of 32 and 64, 4 latent channels, 2 pixels per latent), sd (SD 1.x/2.x: "
               "4 channels, 8 pixels), sd3 (16 channels, 8 pixels, no quant convs)");
  s.add("vae.channels", c.channels, 1, 3, "init: image channels (1 grey, 3 RGB)");
  s.add("vae.seed", c.seed, 0, 1000000000, "init: seed of the random weights");
  s.add("vae.images", c.images, 1, 100000, "reconstruct: test images shown and measured");
  s.add("vae.batch_size", c.batch_size, 1, 100000, "reconstruct: images per encoder or decoder pass");
  s.add_check([&c] {
    if (c.channels == 2) throw ConfigError("vae.channels must be 1 or 3, not 2");
    if (c.device.precision != "fp32")  // as rf_dit runs its VAE
      throw ConfigError(fmt::format("device.precision = \"{}\": vae encodes and decodes in fp32", c.device.precision));
  });
  return s;
}

// The architecture of each layout; sd and sd3 follow the config.json of sd-vae-ft-ema and of
// SD3's vae/ folder.
AutoencoderConfig layout(const VaeToolConfig& c) {
  AutoencoderConfig a;
  a.in_channels = a.out_channels = c.channels;
  if (c.layout == "tiny") {
    std::tie(a.block_out_channels, a.norm_num_groups, a.scaling_factor) =
        std::tuple(std::vector<int64_t>{32, 64}, 8, 1.0);
  } else {
    std::tie(a.block_out_channels, a.layers_per_block) = std::tuple(std::vector<int64_t>{128, 256, 512, 512}, 2);
    if (c.layout == "sd3")
      std::tie(a.latent_channels, a.scaling_factor, a.shift_factor, a.use_quant_conv, a.use_post_quant_conv) =
          std::tuple(16, 1.5305, 0.0609, false, false);
  }
  return a;
}

int init(const VaeToolConfig& c, const CommandLine& cli) {
  const std::filesystem::path dir = cli.arguments[0];
  for (const char* name : {"config.json", "diffusion_pytorch_model.safetensors"})
    if (std::filesystem::exists(dir / name))
      throw UsageError(
          fmt::format("{} exists; init writes a new VAE folder and overwrites none", (dir / name).string()));
  torch::manual_seed(static_cast<uint64_t>(c.seed));
  AutoencoderKL model(layout(c));
  save_autoencoder_kl(dir, model);
  const AutoencoderConfig& a = model->config();
  fmt::print("wrote {} ({} layout, random weights: {} image channels -> {} latent channels, {} pixels per latent)\n",
             cli.arguments[0], c.layout, a.in_channels, a.latent_channels, a.downsampling());
  return kExitOk;
}

int reconstruct(const VaeToolConfig& c, const CommandLine& cli) {
  const torch::Device device = setup_device(c.device, c.seed);
  SourceData data = load_source(c.data, c.seed, device, false);
  LatentSpace space({cli.arguments[0], "mean", c.batch_size, "none"}, data, device);
  const torch::Tensor images = data.test.narrow(0, 0, std::min(c.images, data.test.size(0)));
  const torch::Tensor decoded = to_uint8((space.reconstruct(images) + 1) / 2).to(torch::kCPU);
  const torch::Tensor original = images.to(torch::kCPU);
  const torch::Tensor mse = (decoded.to(torch::kDouble) - original.to(torch::kDouble)).pow(2).flatten(1).mean(1);
  const double psnr = (10 * torch::log10(255.0 * 255.0 / mse.clamp_min(1e-10))).mean().item<double>();
  const torch::Tensor pairs = torch::stack({original, decoded}, 1).flatten(0, 1).to(torch::kFloat) / 255;
  const std::filesystem::path out = cli.files.at("out");
  write_png(out, make_grid(pairs, 8));
  fmt::print("PSNR {:.2f} dB over {} test images of {} through {} ({}) | wrote {} (each image beside its decoding)\n",
             psnr, images.size(0), c.data.dataset, cli.arguments[0], space.summary(), out.string());
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<CommandSpec> commands = {
      {"init",
       false,
       {},
       "write a diffusers VAE folder with random weights in vae.layout's shapes",
       {},
       {{"DIR", "the folder to write (config.json, diffusion_pytorch_model.safetensors)"}}},
      {"reconstruct",
       false,
       {},
       "the first vae.images test images of data.* beside their encode-decode, and the PSNR",
       {{"out", "the PNG to write"}},
       {{"DIR", "a diffusers VAE folder"}}},
  };
  VaeToolConfig config;
  Schema schema = describe(config);
  return run_program(argc, argv, "vae", commands, schema, [&](const CommandLine& cli) {
    if (cli.command == "init") return init(config, cli);
    return reconstruct(config, cli);
  });
}
