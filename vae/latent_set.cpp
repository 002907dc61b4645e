#include "vae/latent_set.hpp"

#include <fmt/format.h>

#include <torch/torch.h>

#include <cstdio>

#include "base/errors.hpp"
#include "base/progress.hpp"
#include "common/content_key.hpp"
#include "common/safetensors.hpp"

namespace genbox::vae {

namespace {

// The posterior's mean and std of `images` (uint8 [N, C, H, W]), float32 on the CPU; the progress
// line counts from `done`.
std::pair<torch::Tensor, torch::Tensor> encode_all(AutoencoderKL& vae, const torch::Tensor& images, int64_t batch_size,
                                                   Progress& progress, int64_t done, const std::string& what) {
  const torch::Device device = vae->parameters().front().device();
  std::vector<torch::Tensor> means, stds;
  for (int64_t first = 0; first < images.size(0); first += batch_size) {
    const int64_t count = std::min(batch_size, images.size(0) - first);
    const torch::Tensor x = images.narrow(0, first, count).to(device).to(torch::kFloat) / 127.5 - 1;
    const Posterior p = vae->encode(x);
    means.push_back(p.mean.to(torch::kCPU).contiguous());
    stds.push_back(p.std.to(torch::kCPU).contiguous());
    if (what.empty()) continue;
    const int64_t now = done + first + count, total = progress.total();
    progress.update(now, what);
    if (!progress.interactive() && now * 10 / total != (now - count) * 10 / total) {  // a tenth of the way, logged
      fmt::print("{}\n", progress.line(now, what));
      std::fflush(stdout);
    }
  }
  return {torch::cat(means), torch::cat(stds)};
}

}  // namespace

LatentSet encode_images(AutoencoderKL& vae, const torch::Tensor& images, bool flips, int64_t batch_size,
                        const std::string& what) {
  TORCH_CHECK(images.dim() == 4 && images.scalar_type() == torch::kUInt8, "encode_images: expected uint8 [N, C, H, W]");
  torch::NoGradGuard no_grad;
  const bool was_training = vae->is_training();
  vae->eval();
  const int64_t total = images.size(0) * (flips ? 2 : 1);
  Progress progress(0, total, "images");
  LatentSet set;
  std::tie(set.mean, set.std) = encode_all(vae, images, batch_size, progress, 0, what);
  if (flips)
    std::tie(set.flipped_mean, set.flipped_std) =
        encode_all(vae, images.flip({3}), batch_size, progress, images.size(0), what);
  if (!what.empty()) progress.finish_line();
  vae->train(was_training);
  return set;
}

LatentSet cached_latent_set(AutoencoderKL& vae, const std::string& weights_key, const torch::Tensor& images, bool flips,
                            int64_t batch_size, const std::filesystem::path& cache_dir, const std::string& what) {
  const torch::Tensor pixels = images.to(torch::kCPU).contiguous();
  std::string shape;
  for (int64_t side : pixels.sizes()) shape += (shape.empty() ? "" : "x") + std::to_string(side);
  const std::filesystem::path file =
      cache_dir / (content_key(pixels.data_ptr<uint8_t>(), size_t(pixels.numel())) + "-" + shape + "-" + weights_key +
                   (flips ? "-flips" : "") + ".safetensors");
  const std::vector<std::string> names = flips ? std::vector<std::string>{"mean", "std", "flipped_mean", "flipped_std"}
                                               : std::vector<std::string>{"mean", "std"};
  if (std::filesystem::exists(file)) {
    try {
      std::map<std::string, torch::Tensor> stored;
      for (auto& [name, tensor] : read_safetensors(file).tensors) stored.emplace(name, tensor);
      bool whole = true;
      for (const auto& name : names)
        whole = whole && stored.count(name) && stored.at(name).dim() == 4 && stored.at(name).size(0) == pixels.size(0);
      if (whole) {
        LatentSet set;
        std::tie(set.mean, set.std) = std::pair(stored.at("mean"), stored.at("std"));
        if (flips)
          std::tie(set.flipped_mean, set.flipped_std) = std::pair(stored.at("flipped_mean"), stored.at("flipped_std"));
        set.file = file;
        set.from_cache = true;
        return set;
      }
    } catch (const DataError& e) {
      fmt::print("{}; encoding the images again\n", e.what());
    }
  }
  LatentSet set = encode_images(vae, pixels, flips, batch_size, what);
  Safetensors contents;
  contents.tensors = {{"mean", set.mean}, {"std", set.std}};
  if (flips)
    contents.tensors.insert(contents.tensors.end(),
                            {{"flipped_mean", set.flipped_mean}, {"flipped_std", set.flipped_std}});
  std::filesystem::create_directories(cache_dir);
  write_safetensors(file, contents);
  set.file = file;
  return set;
}

torch::Tensor training_latents(const LatentSet& set, const AutoencoderKL& vae, const torch::Tensor& rows,
                               const torch::Tensor& flipped, bool sample, at::Generator generator) {
  const torch::Tensor index = rows.to(torch::kCPU);
  torch::Tensor mean = set.mean.index_select(0, index), std = set.std.index_select(0, index);
  if (flipped.defined()) {
    TORCH_CHECK(set.flipped_mean.defined(), "training_latents: flipped rows asked of a set encoded without flips");
    const torch::Tensor where = flipped.to(torch::kCPU).view({-1, 1, 1, 1});
    mean = torch::where(where, set.flipped_mean.index_select(0, index), mean);
    std = torch::where(where, set.flipped_std.index_select(0, index), std);
  }
  const torch::Tensor latents = sample ? mean + std * at::randn(mean.sizes(), generator) : mean;
  return vae->scale(latents).to(rows.device());
}

}  // namespace genbox::vae
