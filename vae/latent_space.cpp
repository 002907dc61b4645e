#include "vae/latent_space.hpp"

#include <fmt/format.h>

#include <torch/torch.h>

#include <chrono>

#include "base/errors.hpp"
#include "base/fsutil.hpp"
#include "common/content_key.hpp"

namespace genbox::vae {

void describe(Schema& s, LatentSettings& l) {
  s.add("data.latents.vae", l.vae,
        "a diffusers VAE folder (config.json, diffusion_pytorch_model.safetensors; e.g. SD3's vae/): the model "
        "trains on its latents and samples are decoded; \"\": on pixels");
  s.add_choice("data.latents.posterior", l.posterior, {"sample", "mean"},
               "latents each batch: a draw from the encoder's posterior (fast-DiT, EDM2) or its mean");
  s.add("data.latents.batch_size", l.batch_size, 1, 100000, "images per VAE encoder or decoder pass");
  s.add("data.latents.cache_dir", l.cache_dir,
        "encoded sets, keyed by the images' and the weights' content; \"\": the per-user cache, \"none\": no cache");
}

namespace {

// The images' latents, through the cache unless it is off; `what` labels the progress line.
LatentSet encoded(AutoencoderKL& vae, const LatentSettings& s, const std::string& weights_key,
                  const torch::Tensor& images, bool flips, const std::string& what) {
  if (s.cache_dir == "none") return encode_images(vae, images, flips, s.batch_size, what);
  const std::filesystem::path dir =
      s.cache_dir.empty() ? user_cache_home() / "genbox" / "latents" : std::filesystem::path(s.cache_dir);
  return cached_latent_set(vae, weights_key, images, flips, s.batch_size, dir, what);
}

nlohmann::json set_meta(const LatentSet& set) {
  return {{"images", set.mean.size(0)}, {"cache", set.file.string()}, {"from_cache", set.from_cache}};
}

}  // namespace

LatentSpace::LatentSpace(const LatentSettings& settings, const SourceData& data, const torch::Device& device)
    : settings_(settings) {
  if (!data.images) throw ConfigError("data.latents.vae needs an image dataset, not toy points");
  const std::filesystem::path folder(settings.vae);
  vae_ = load_autoencoder_kl(folder, device);
  const AutoencoderConfig& c = vae_->config();
  const int64_t f = c.downsampling();
  if (c.in_channels != data.shape[0])
    throw ConfigError(fmt::format(
        "data.latents.vae = {}: the VAE takes {}-channel images, the data set gives {} (set data.channels = {})",
        settings.vae, c.in_channels, data.shape[0], c.in_channels));
  if (data.shape[1] % f != 0 || data.shape[2] % f != 0)
    throw ConfigError(fmt::format(
        "data.latents.vae = {}: the VAE turns {} x {} pixels into one latent, and the images are {} x {} (set "
        "data.image_size to a multiple of {})",
        settings.vae, f, f, data.shape[1], data.shape[2], f));
  shape_ = {c.latent_channels, data.shape[1] / f, data.shape[2] / f};
  meta_ = {{"vae", std::filesystem::absolute(folder).lexically_normal().string()},
           {"scaling_factor", c.scaling_factor},
           {"shift_factor", c.shift_factor},
           {"posterior", settings.posterior},
           {"shape", shape_}};
}

void LatentSpace::encode(const SourceData& data, bool train) {
  const std::string weights_key =
      file_content_key(std::filesystem::path(settings_.vae) / "diffusion_pytorch_model.safetensors");
  meta_["weights"] = weights_key;
  const auto started = std::chrono::steady_clock::now();
  test_ = encoded(vae_, settings_, weights_key, data.test, false, "encoding test images");
  meta_["test"] = set_meta(test_);
  if (train) {
    train_ = encoded(vae_, settings_, weights_key, data.train, data.hflip, "encoding training images");
    meta_["train"] = set_meta(train_);
  }
  meta_["encode_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

torch::Tensor LatentSpace::reconstruct(const torch::Tensor& images) {
  const LatentSet set = encode_images(vae_, images, false, settings_.batch_size);
  return to_pixels(vae_->scale(set.mean)).to(images.device());
}

std::string LatentSpace::summary() const {
  std::string line = fmt::format("latents {}x{}x{} of {}", shape_[0], shape_[1], shape_[2], settings_.vae);
  if (!train_.mean.defined()) return line;
  return line + (train_.from_cache && test_.from_cache
                     ? " (from the cache)"
                     : fmt::format(" (encoded in {:.1f} s)", meta_["encode_seconds"].get<double>()));
}

torch::Tensor LatentSpace::train_latents(const SourceData& data, const torch::Tensor& rows,
                                         at::Generator generator) const {
  TORCH_CHECK(train_.mean.defined(), "train_latents: the training images were not encoded");
  const torch::Tensor coins = flip_coins(data, rows.size(0), generator);
  return training_latents(train_, vae_, rows, coins, settings_.posterior == "sample", generator);
}

torch::Tensor LatentSpace::test_latents(int64_t n) const {
  TORCH_CHECK(test_.mean.defined(), "test_latents: the test images were not encoded");
  const torch::Device device = vae_->parameters().front().device();
  return vae_->scale(test_.mean.narrow(0, 0, std::min(n, test_.mean.size(0)))).to(device);
}

torch::Tensor LatentSpace::to_pixels(const torch::Tensor& latents) {
  torch::NoGradGuard no_grad;
  const torch::Device device = vae_->parameters().front().device();
  std::vector<torch::Tensor> images;
  for (int64_t first = 0; first < latents.size(0); first += settings_.batch_size) {
    const torch::Tensor z = latents.narrow(0, first, std::min(settings_.batch_size, latents.size(0) - first));
    images.push_back(vae_->decode(vae_->unscale(z.to(device, torch::kFloat))).clamp(-1, 1).to(latents.device()));
  }
  return torch::cat(images);
}

}  // namespace genbox::vae
