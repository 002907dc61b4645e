#include <doctest/doctest.h>

#include <torch/torch.h>

#include <algorithm>
#include <vector>

#include "base/errors.hpp"
#include "common/data/resample.hpp"
#include "common/safetensors.hpp"
#include "metrics/inception.hpp"
#include "metrics/inception_features.hpp"
#include "metrics/inception_input.hpp"
#include "metrics/precision_recall.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::metrics;
using genbox::testing::data_error_of;
using genbox::testing::TempDir;

namespace {

void write_weights(const std::filesystem::path& path, const std::function<void(NamedTensors&)>& edit = {}) {
  genbox::testing::write_random_inception(path, edit);
}

std::string usage_error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("TensorFlow 1's bilinear resize samples at destination x in / out with no half-pixel shift") {
  const torch::Tensor x = torch::tensor({0.0f, 10.0f, 20.0f, 30.0f}).view({1, 1, 2, 2});
  // Sources 0, 0.5, 1, 1.5 on both axes; the last clamps to the edge.
  const torch::Tensor expected = torch::tensor({0.0f, 5.0f, 10.0f, 10.0f, 10.0f, 15.0f, 20.0f, 20.0f,  //
                                                20.0f, 25.0f, 30.0f, 30.0f, 20.0f, 25.0f, 30.0f, 30.0f})
                                     .view({1, 1, 4, 4});
  CHECK(torch::equal(resize_bilinear_tf1(x, 4, 4), expected));
}

TEST_CASE("Pillow's float bicubic keeps constants and, away from the borders, straight ramps") {
  std::vector<float> constant(7 * 5, 93.25f);
  for (float v : resize_bicubic_float(constant.data(), 7, 5, 23, 17)) CHECK(v == doctest::Approx(93.25).epsilon(1e-6));
  // Keys' cubic reproduces linear functions where no window is clipped by the border.
  std::vector<float> ramp(16 * 16);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) ramp[y * 16 + x] = float(3 * x + 2 * y);
  const std::vector<float> up = resize_bicubic_float(ramp.data(), 16, 16, 64, 64);
  for (int y = 12; y < 52; ++y)
    for (int x = 12; x < 52; ++x) {
      const double source_x = (x + 0.5) / 4 - 0.5, source_y = (y + 0.5) / 4 - 0.5;
      CHECK(up[y * 64 + x] == doctest::Approx(3 * source_x + 2 * source_y).epsilon(1e-5));
    }
  // The 8-bit resize is the same filter with rounding between the passes.
  ImageU8 bytes{16, 16, 1, {}};
  for (float v : ramp) bytes.pixels.push_back(uint8_t(v));
  const ImageU8 up8 = resize_bicubic(bytes, 64, 64);
  for (size_t i = 0; i < up.size(); ++i)
    CHECK(std::abs(double(up8.pixels[i]) - std::clamp(up[i], 0.0f, 255.0f)) <= 1.0);
}

TEST_CASE("each convention feeds 299 x 299 in [-1, 1], grey images as three equal channels") {
  torch::manual_seed(4);
  const torch::Tensor grey = torch::randint(0, 256, {2, 1, 20, 24}, torch::kUInt8);
  for (const std::string name : {"tf", "pytorch", "clean"}) {
    CAPTURE(name);
    const InceptionInput convention = parse_inception_input(name);
    CHECK(name_of(convention) == name);
    const torch::Tensor input = inception_input(grey, convention, torch::kCPU);
    CHECK(input.sizes() == torch::IntArrayRef({2, 3, 299, 299}));
    CHECK(input.min().item<float>() >= -1.0f);
    CHECK(input.max().item<float>() <= 1.0f);
    CHECK(torch::equal(input, inception_input(grey.repeat({1, 3, 1, 1}), convention, torch::kCPU)));
  }
  // At 299 no convention resamples; they differ in scaling only: 2 x / 255 - 1 against (x - 128) / 128.
  const torch::Tensor full = torch::randint(0, 256, {1, 3, 299, 299}, torch::kUInt8);
  const torch::Tensor values = full.to(torch::kFloat);
  CHECK(torch::allclose(inception_input(full, InceptionInput::kPytorch, torch::kCPU), 2 * (values / 255) - 1));
  CHECK(torch::equal(inception_input(full, InceptionInput::kTf, torch::kCPU), (values - 128) / 128));
  CHECK(torch::equal(inception_input(full, InceptionInput::kClean, torch::kCPU), (values - 128) / 128));
  CHECK(usage_error_of([] { parse_inception_input("tensorflow"); }).find("tf, pytorch, clean") != std::string::npos);
}

TEST_CASE("the weights load strictly by name; a missing file says which file FID needs and where it is") {
  TempDir dir;
  const std::string missing = usage_error_of([&] { load_fid_inception(dir / "none.safetensors", torch::kCPU); });
  CHECK(missing.find("pt_inception-2015-12-05-6726825d.pth") != std::string::npos);
  CHECK(missing.find(kInceptionWeightsUrl) != std::string::npos);
  CHECK(missing.find("bench/convert_inception.py") != std::string::npos);
  genbox::testing::write_text(dir / "w.pth", "a pickle");
  CHECK(usage_error_of([&] { load_fid_inception(dir / "w.pth", torch::kCPU); }).find("bench/convert_inception.py") !=
        std::string::npos);

  write_weights(dir / "wrong_shape.safetensors", [](NamedTensors& t) {
    for (auto& [name, tensor] : t)
      if (name == "Mixed_6b.branch7x7_2.conv.weight") tensor = torch::zeros({128, 128, 7, 1});
  });
  CHECK(data_error_of([&] {
          load_fid_inception(dir / "wrong_shape.safetensors", torch::kCPU);
        }).find("Mixed_6b.branch7x7_2.conv.weight is [128, 128, 7, 1], the network's is [128, 128, 1, 7]") !=
        std::string::npos);
  write_weights(dir / "missing.safetensors", [](NamedTensors& t) {
    t.erase(std::remove_if(t.begin(), t.end(),
                           [](const auto& e) { return e.first == "Mixed_7c.branch_pool.bn.running_var"; }),
            t.end());
  });
  CHECK(data_error_of([&] {
          load_fid_inception(dir / "missing.safetensors", torch::kCPU);
        }).find("no tensor Mixed_7c.branch_pool.bn.running_var") != std::string::npos);
  write_weights(dir / "extra.safetensors",
                [](NamedTensors& t) { t.emplace_back("Mixed_8a.conv.weight", torch::zeros({1})); });
  CHECK(data_error_of([&] {
          load_fid_inception(dir / "extra.safetensors", torch::kCPU);
        }).find("Mixed_8a.conv.weight is not a tensor of FID's Inception") != std::string::npos);
  // The classifier and batch counters of pytorch-fid's file are there and ignored.
  write_weights(dir / "full.safetensors", [](NamedTensors& t) {
    t.emplace_back("fc.weight", torch::zeros({1008, 2048}));
    t.emplace_back("Conv2d_1a_3x3.bn.num_batches_tracked", torch::zeros({}, torch::kLong));
  });
  CHECK_NOTHROW(load_fid_inception(dir / "full.safetensors", torch::kCPU));
}

TEST_CASE("folded batch norms give the layer-by-layer network's features") {
  TempDir dir;
  write_weights(dir / "w.safetensors", [](NamedTensors& t) {
    torch::manual_seed(5);
    for (auto& [name, tensor] : t) {
      if (name.find("running_var") != std::string::npos) tensor = torch::rand(tensor.sizes()) + 0.5;
      if (name.find("running_mean") != std::string::npos) tensor = torch::randn(tensor.sizes()) * 0.1;
      if (name.find("bn.bias") != std::string::npos) tensor = torch::randn(tensor.sizes()) * 0.1;
    }
  });
  FidInception network = load_fid_inception(dir / "w.safetensors", torch::kCPU);
  // The first layer by hand: convolution, batch norm in eval mode, ReLU.
  const auto file = read_safetensors(dir / "w.safetensors");
  std::map<std::string, torch::Tensor> w(file.tensors.begin(), file.tensors.end());
  const torch::Tensor x = torch::randn({1, 3, 299, 299});
  const torch::Tensor by_hand = torch::relu(torch::batch_norm(
      torch::conv2d(x, w["Conv2d_1a_3x3.conv.weight"], {}, 2), w["Conv2d_1a_3x3.bn.weight"], w["Conv2d_1a_3x3.bn.bias"],
      w["Conv2d_1a_3x3.bn.running_mean"], w["Conv2d_1a_3x3.bn.running_var"], false, 0, 0.001, false));
  torch::NoGradGuard no_grad;
  auto first = network->named_children()["Conv2d_1a_3x3"]->as<InceptionConvImpl>();
  CHECK(torch::allclose(first->forward(x), by_hand, 1e-4, 1e-5));
  CHECK(network->forward(torch::randn({2, 3, 299, 299})).sizes() == torch::IntArrayRef({2, 2048}));
}

TEST_CASE("reference features are computed once and then read from the cache, keyed by the images") {
  TempDir dir;
  write_weights(dir / "w.safetensors");
  const InceptionFeatures extractor({(dir / "w.safetensors").string(), "tf", 2}, torch::kCPU);
  torch::manual_seed(8);
  const torch::Tensor images = torch::randint(0, 256, {3, 3, 16, 16}, torch::kUInt8);
  const ReferenceFeatures first = reference_features(extractor, images, dir / "cache", "");
  CHECK_FALSE(first.from_cache);
  CHECK(first.features.sizes() == torch::IntArrayRef({3, 2048}));
  CHECK(torch::equal(first.features, extractor(images)));
  const ReferenceFeatures again = reference_features(extractor, images, dir / "cache", "");
  CHECK(again.from_cache);
  CHECK(again.file == first.file);
  CHECK(torch::equal(again.features, first.features));
  CHECK(torch::equal(again.stats.sigma, first.stats.sigma));
  // Other pixels are another set.
  torch::Tensor changed = images.clone();
  changed[0][0][0][0] = uint8_t(changed[0][0][0][0].item<int>() ^ 1);
  CHECK(reference_features(extractor, changed, dir / "cache", "").file != first.file);
  // A damaged cache file is computed again.
  genbox::testing::write_text(first.file, "not an npz");
  const ReferenceFeatures recomputed = reference_features(extractor, images, dir / "cache", "");
  CHECK_FALSE(recomputed.from_cache);
  CHECK(torch::equal(recomputed.features, first.features));
}

TEST_CASE("precision and recall count points inside the other set's k-nearest-neighbour balls") {
  torch::manual_seed(9);
  const torch::Tensor real = torch::randn({40, 3});
  const torch::Tensor generated = torch::randn({30, 3}) * 1.5 + 0.5;
  // By brute force: radii from sorted distances, then membership.
  const auto share = [](const torch::Tensor& points, const torch::Tensor& centres, int64_t k) {
    std::vector<double> radius(centres.size(0));
    for (int64_t i = 0; i < centres.size(0); ++i) {
      std::vector<double> d;
      for (int64_t j = 0; j < centres.size(0); ++j)
        if (j != i) d.push_back((centres[i] - centres[j]).norm().item<double>());
      std::sort(d.begin(), d.end());
      radius[i] = d[k - 1];
    }
    int inside = 0;
    for (int64_t p = 0; p < points.size(0); ++p)
      for (int64_t c = 0; c < centres.size(0); ++c)
        if ((points[p] - centres[c]).norm().item<double>() <= radius[c] * (1 + 1e-6)) {
          ++inside;
          break;
        }
    return double(inside) / double(points.size(0));
  };
  for (int64_t block : {int64_t(1) << 26, int64_t(7)}) {
    const PrecisionRecall pr = precision_recall(generated, real, 3, block);
    CHECK(pr.precision == doctest::Approx(share(generated, real, 3)));
    CHECK(pr.recall == doctest::Approx(share(real, generated, 3)));
  }
  // A set is all inside its own manifold.
  CHECK(precision_recall(real, real).precision == 1.0);
}
