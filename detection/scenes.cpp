#include "detection/scenes.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

namespace genbox::detection {

namespace {
// mt19937_64 and seed_seq are specified exactly by the standard, unlike its distributions, so
// scenes come out the same with any standard library.
class SceneRandom {
 public:
  SceneRandom(uint64_t seed, int64_t index) {
    const auto i = static_cast<uint64_t>(index);
    std::seed_seq sequence{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(i),
                           static_cast<uint32_t>(i >> 32)};
    engine_.seed(sequence);
  }

  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  int64_t integer(int64_t low, int64_t high) {  // inclusive
    return low + std::min<int64_t>(static_cast<int64_t>(uniform() * static_cast<double>(high - low + 1)), high - low);
  }

 private:
  std::mt19937_64 engine_;
};

// Rows and columns [first, last] holding a non-zero pixel of a [C, H, W] image; empty if none.
struct Extent {
  int64_t top = 0, left = 0, bottom = -1, right = -1;
  bool empty() const { return bottom < top; }
};

Extent non_zero_extent(const torch::Tensor& image) {
  torch::Tensor occupied = image.amax(0) > 0;
  torch::Tensor rows = occupied.any(1).nonzero(), columns = occupied.any(0).nonzero();
  if (rows.size(0) == 0) return {};
  return {rows[0][0].item<int64_t>(), columns[0][0].item<int64_t>(), rows[-1][0].item<int64_t>(),
          columns[-1][0].item<int64_t>()};
}

double iou(const std::array<double, 4>& a, const std::array<double, 4>& b) {
  double w = std::min(a[2], b[2]) - std::max(a[0], b[0]), h = std::min(a[3], b[3]) - std::max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  double inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

void check_options(const SceneOptions& o) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("scene options: " + what); };
  if (o.height < 1 || o.width < 1) fail("the canvas needs a positive size");
  if (o.min_height < 0 || o.min_height > o.height || o.min_width < 0 || o.min_width > o.width)
    fail("min_height and min_width must lie in [0, height] and [0, width]");
  if (o.min_objects < 1 || o.max_objects < o.min_objects)
    fail("objects per scene need 1 <= min_objects <= max_objects");
  if (!(o.min_scale > 0) || o.max_scale < o.min_scale) fail("scales need 0 < min_scale <= max_scale");
  if (!(o.max_overlap >= 0 && o.max_overlap <= 1)) fail("max_overlap must lie in [0, 1]");
  if (o.placement_attempts < 1) fail("placement_attempts must be positive");
  if (!(o.noise >= 0 && o.noise <= 1)) fail("noise must lie in [0, 1]");
}
}  // namespace

Scene make_scene(const torch::Tensor& source_images, const torch::Tensor& source_labels, const SceneOptions& options,
                 uint64_t seed, int64_t index) {
  check_options(options);
  torch::Tensor sources = source_images.dim() == 3 ? source_images.unsqueeze(1) : source_images;
  if (sources.dim() != 4 || sources.scalar_type() != torch::kUInt8 || sources.size(0) == 0 ||
      source_labels.dim() != 1 || source_labels.size(0) != sources.size(0))
    throw std::invalid_argument(
        fmt::format("scenes need uint8 source images [N, C, H, W] and labels [N], got {} and {}",
                    fmt::join(source_images.sizes(), "x"), fmt::join(source_labels.sizes(), "x")));
  SceneRandom random(seed, index);
  const int64_t height = options.min_height > 0 ? random.integer(options.min_height, options.height) : options.height;
  const int64_t width = options.min_width > 0 ? random.integer(options.min_width, options.width) : options.width;
  const int64_t channels = sources.size(1);

  torch::Tensor image = torch::zeros({channels, height, width}, torch::kUInt8);
  if (options.noise > 0) {
    auto pixels = image.accessor<uint8_t, 3>();
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t y = 0; y < height; ++y)
        for (int64_t x = 0; x < width; ++x)
          pixels[c][y][x] = static_cast<uint8_t>(std::lround(random.uniform() * options.noise * 255));
  }

  std::vector<std::array<double, 4>> boxes;
  std::vector<int64_t> labels;
  const int64_t objects = random.integer(options.min_objects, options.max_objects);
  for (int64_t n = 0; n < objects; ++n) {
    const int64_t source = random.integer(0, sources.size(0) - 1);
    const double scale = random.uniform(options.min_scale, options.max_scale);
    torch::Tensor item = sources[source].cpu();
    Extent crop = non_zero_extent(item);
    if (crop.empty()) continue;
    item = item.narrow(1, crop.top, crop.bottom - crop.top + 1).narrow(2, crop.left, crop.right - crop.left + 1);
    double fit =
        std::min({scale, static_cast<double>(height) / item.size(1), static_cast<double>(width) / item.size(2)});
    int64_t h = std::clamp<int64_t>(std::lround(item.size(1) * fit), 1, height);
    int64_t w = std::clamp<int64_t>(std::lround(item.size(2) * fit), 1, width);
    torch::Tensor resized = torch::nn::functional::interpolate(item.unsqueeze(0).to(torch::kFloat),
                                                               torch::nn::functional::InterpolateFuncOptions()
                                                                   .size(std::vector<int64_t>{h, w})
                                                                   .mode(torch::kBilinear)
                                                                   .align_corners(false)
                                                                   .antialias(true))[0]
                                .round()
                                .clamp(0, 255)
                                .to(torch::kUInt8);
    // Resampling can fade an edge row to zero; the box follows the pixels that remain.
    Extent drawn = non_zero_extent(resized);
    if (drawn.empty()) continue;

    for (int64_t attempt = 0; attempt < options.placement_attempts; ++attempt) {
      const int64_t top = random.integer(0, height - h), left = random.integer(0, width - w);
      std::array<double, 4> box = {static_cast<double>(left + drawn.left), static_cast<double>(top + drawn.top),
                                   static_cast<double>(left + drawn.right + 1),
                                   static_cast<double>(top + drawn.bottom + 1)};
      bool too_close = std::any_of(boxes.begin(), boxes.end(), [&](const std::array<double, 4>& other) {
        return iou(box, other) > options.max_overlap;
      });
      if (too_close) continue;
      torch::Tensor region = image.narrow(1, top, h).narrow(2, left, w);
      region.copy_(torch::max(region, resized));
      boxes.push_back(box);
      labels.push_back(source_labels[source].item<int64_t>());
      break;
    }
  }

  torch::Tensor xyxy = torch::zeros({static_cast<int64_t>(boxes.size()), 4});
  for (size_t i = 0; i < boxes.size(); ++i)
    for (int j = 0; j < 4; ++j) xyxy[i][j] = boxes[i][j];
  return {image, make_targets(torch::tensor(labels, torch::kLong), xyxy, height, width)};
}

DetectionDataset make_scenes(const torch::Tensor& source_images, const torch::Tensor& source_labels, int64_t count,
                             const SceneOptions& options, uint64_t seed) {
  DetectionDataset data;
  for (int64_t i = 0; i < count; ++i) {
    Scene scene = make_scene(source_images, source_labels, options, seed, i);
    data.images.push_back(scene.image);
    data.targets.push_back(scene.targets);
  }
  return data;
}

}  // namespace genbox::detection
