#include "metrics/inception_features.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cstdlib>
#include <vector>

#include "base/errors.hpp"
#include "base/fsutil.hpp"
#include "base/progress.hpp"
#include "common/content_key.hpp"
#include "common/npz.hpp"

namespace genbox::metrics {

InceptionFeatures::InceptionFeatures(const InceptionOptions& options, const torch::Device& device)
    : weights_(options.weights.empty() ? default_inception_weights() : std::filesystem::path(options.weights)),
      input_(parse_inception_input(options.input)),
      batch_size_(options.batch_size),
      device_(device) {
  network_ = load_fid_inception(weights_, device);
  identity_ = name_of(input_) + "-" + file_content_key(weights_);
}

torch::Tensor InceptionFeatures::operator()(const torch::Tensor& images, const std::string& what) const {
  TORCH_CHECK(images.dim() == 4 && images.scalar_type() == torch::kUInt8,
              "InceptionFeatures: expected uint8 [N, C, H, W], got ", images.scalar_type(), " ", images.sizes());
  torch::NoGradGuard no_grad;
  const int64_t n = images.size(0);
  torch::Tensor features = torch::empty({n, 2048}, torch::kFloat);
  Progress progress(0, n, "images");
  const bool show = !what.empty() && n > batch_size_;
  for (int64_t first = 0; first < n; first += batch_size_) {
    const int64_t count = std::min(batch_size_, n - first);
    const torch::Tensor input = inception_input(images.narrow(0, first, count), input_, device_);
    features.narrow(0, first, count).copy_(network_->forward(input).to(torch::kCPU, torch::kFloat));
    if (show) progress.update(first + count, what);
  }
  if (show) progress.finish_line();
  return features;
}

FeatureStats stats_of(const torch::Tensor& features) {
  FeatureMoments moments;
  moments.add(features);
  return moments.stats();
}

ReferenceFeatures reference_features(const InceptionFeatures& extractor, const torch::Tensor& images,
                                     const std::filesystem::path& cache_dir, const std::string& what) {
  const torch::Tensor pixels = images.to(torch::kCPU).contiguous();
  std::string shape;
  for (int64_t side : pixels.sizes()) shape += (shape.empty() ? "" : "x") + std::to_string(side);
  const std::string key =
      content_key(pixels.data_ptr<uint8_t>(), size_t(pixels.numel())) + "-" + shape + "-" + extractor.identity();
  ReferenceFeatures result;
  result.file = cache_dir / (key + ".npz");
  if (std::filesystem::exists(result.file)) {
    try {
      auto arrays = read_npz(result.file);
      if (arrays.count("features") && arrays.count("mu") && arrays.count("sigma") && arrays.at("features").dim() == 2 &&
          arrays.at("features").size(0) == pixels.size(0)) {
        result.features = arrays.at("features").to(torch::kFloat);
        result.stats = {arrays.at("mu"), arrays.at("sigma")};
        result.from_cache = true;
        return result;
      }
    } catch (const DataError& e) {
      fmt::print("{}; computing the features again\n", e.what());
    }
  }
  result.features = extractor(pixels, what);
  result.stats = stats_of(result.features);
  std::filesystem::create_directories(cache_dir);
  write_npz(result.file, {{"features", result.features}, {"mu", result.stats.mu}, {"sigma", result.stats.sigma}});
  return result;
}

std::filesystem::path default_fid_cache_dir() { return user_cache_home() / "genbox" / "fid"; }

}  // namespace genbox::metrics
