// A data set's images through a VAE's encoder, once, so that a latent diffusion model trains on
// latents as SD3 does (and DiT, fast-DiT and EDM2, which encode their sets ahead as well).
// Images uint8 [N, C, H, W] become [-1, 1] (x / 127.5 - 1, diffusers' image processor) and are
// encoded in batches; the posterior's mean and standard deviation are kept unscaled, float32,
// [N, L, H / f, W / f], and the same for the left-right flipped images when the set flips (the
// latent of a flipped image is not the flipped latent). Each epoch may then draw from the
// posterior (fast-DiT, EDM2) or take the mean.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "vae/autoencoder_kl.hpp"

namespace genbox::vae {

struct LatentSet {
  torch::Tensor mean, std;                  // [N, L, h, w]
  torch::Tensor flipped_mean, flipped_std;  // the same for the flipped images; undefined without flips
  std::filesystem::path file;               // its cache file, when cached
  bool from_cache = false;
};

// Encodes `images` in batches of `batch_size` on the VAE's device; with a `what`, a progress line
// counts the images.
LatentSet encode_images(AutoencoderKL& vae, const torch::Tensor& images, bool flips, int64_t batch_size,
                        const std::string& what = "");

// encode_images through a cache: <cache_dir>/<pixels' content key>-<N>x<C>x<H>x<W>-<weights' content
// key>[-flips].safetensors, read when it is there and whole, else encoded and written atomically.
// `weights_key` names the VAE's weights (file_content_key of its safetensors).
LatentSet cached_latent_set(AutoencoderKL& vae, const std::string& weights_key, const torch::Tensor& images, bool flips,
                            int64_t batch_size, const std::filesystem::path& cache_dir, const std::string& what = "");

// The diffusion model's inputs for `rows` (int64 [B]) of the set: scaled as the VAE's config says;
// a draw mean + std * eps from `generator` when `sample`, else the mean; the flipped image's
// latents where `flipped` (bool [B], or undefined for none) is true.
torch::Tensor training_latents(const LatentSet& set, const AutoencoderKL& vae, const torch::Tensor& rows,
                               const torch::Tensor& flipped, bool sample, at::Generator generator);

}  // namespace genbox::vae
