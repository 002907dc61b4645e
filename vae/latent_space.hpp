// A diffusion model's data in a VAE's latent space, as SD3 trains (Esser et al. 2024, section
// 5.2.1: a 16-channel autoencoder, 8x smaller per side than the image): the data.latents.* keys,
// the training and test images encoded once (vae/latent_set.hpp, cached by content), training
// latents drawn per batch, and samples decoded back to [-1, 1] images for grids and FID.
//
// Latents are [latent channels, H / f, W / f] per image, scaled as diffusers scales them for the
// diffusion model ((z - shift_factor) * scaling_factor; SD3: 1.5305, 0.0609). Encoding and
// decoding run in fp32 whatever the run's precision: the VAE is frozen and small beside the
// sampler's work.
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/config.hpp"
#include "common/data/sources.hpp"
#include "vae/autoencoder_kl.hpp"
#include "vae/latent_set.hpp"

namespace genbox::vae {

struct LatentSettings {
  std::string vae;                   // a diffusers VAE folder; "": the model runs on pixels
  std::string posterior = "sample";  // sample: a fresh draw from the posterior per batch | mean
  int64_t batch_size = 32;           // images per encoder or decoder pass
  std::string cache_dir;             // "": <user cache>/genbox/latents; "none": encode every run
  bool enabled() const { return !vae.empty(); }
};

// data.latents.vae, .posterior, .batch_size, .cache_dir.
void describe(Schema& schema, LatentSettings& latents);

class LatentSpace {
 public:
  // Loads the VAE onto `device`. An image set it cannot take (its channels, or sides not a
  // multiple of its downsampling) is a ConfigError naming the keys; a damaged VAE folder a
  // DataError naming the file.
  LatentSpace(const LatentSettings& settings, const SourceData& data, const torch::Device& device);
  // Encodes the test images of `data`, and with `train` the training images (both flips of each
  // when the set flips), through the cache; a progress line counts them.
  void encode(const SourceData& data, bool train);

  // One example's latent shape: latent channels, H / f, W / f.
  const std::vector<int64_t>& shape() const { return shape_; }
  // The diffusion model's inputs for training rows `rows` (int64 [B]): each flipped where
  // flip_coins says (the same draws train_rows makes), then a posterior draw or its mean.
  torch::Tensor train_latents(const SourceData& data, const torch::Tensor& rows, at::Generator generator) const;
  // The posterior means of the first n test images, scaled: fixed inputs for validation.
  torch::Tensor test_latents(int64_t n) const;
  // Scaled latents [B, L, h, w] -> images [B, C, H, W] in [-1, 1] (clamped), decoded in batches.
  torch::Tensor to_pixels(const torch::Tensor& latents);
  // Images uint8 [N, C, H, W] through the encoder (the posterior's mean) and the decoder: [-1, 1]
  // images, the best a model of these latents can draw.
  torch::Tensor reconstruct(const torch::Tensor& images);
  // One line for the log: the latent shape, the VAE and whether the sets came from the cache.
  std::string summary() const;
  // What meta.json records: the VAE folder, its weights' content key, factors, shape and caches.
  const nlohmann::json& meta() const { return meta_; }

 private:
  LatentSettings settings_;
  AutoencoderKL vae_{nullptr};
  std::vector<int64_t> shape_;
  LatentSet train_, test_;
  nlohmann::json meta_;
};

}  // namespace genbox::vae
