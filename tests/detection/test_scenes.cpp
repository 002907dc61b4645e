#include <doctest/doctest.h>
#include <torch/torch.h>

#include <set>

#include "detection/box_ops.hpp"
#include "detection/scenes.hpp"

using namespace genbox::detection;
using torch::indexing::Slice;

namespace {
// Four 28 x 28 items: filled rectangles of different shapes, sizes and brightness, labelled 3,
// 1, 4, 1 (labels repeat, as classes do in a real set).
struct Source {
  torch::Tensor images = torch::zeros({4, 1, 28, 28}, torch::kUInt8);
  torch::Tensor labels = torch::tensor({3, 1, 4, 1}, torch::kLong);
  Source() {
    images.index_put_({0, 0, Slice(4, 24), Slice(6, 22)}, 200);
    images.index_put_({1, 0, Slice(0, 28), Slice(10, 18)}, 255);
    images.index_put_({2, 0, Slice(12, 16), Slice(2, 26)}, 90);
    images.index_put_({3, 0, Slice(5, 20), Slice(5, 20)}, 140);
  }
};

bool same(const DetectionDataset& a, const DetectionDataset& b) {
  if (a.size() != b.size()) return false;
  for (int64_t i = 0; i < a.size(); ++i)
    if (!torch::equal(a.images[i], b.images[i]) || !torch::equal(a.targets[i].boxes_xyxy, b.targets[i].boxes_xyxy) ||
        !torch::equal(a.targets[i].labels, b.targets[i].labels))
      return false;
  return true;
}
}  // namespace

TEST_CASE("scenes are reproducible by seed, and scene i does not depend on how many are made") {
  Source source;
  SceneOptions o;
  DetectionDataset a = make_scenes(source.images, source.labels, 12, o, 7);
  CHECK(same(a, make_scenes(source.images, source.labels, 12, o, 7)));
  CHECK_FALSE(same(a, make_scenes(source.images, source.labels, 12, o, 8)));
  Scene fifth = make_scene(source.images, source.labels, o, 7, 5);
  CHECK(torch::equal(fifth.image, a.images[5]));
  CHECK(torch::equal(fifth.targets.boxes, a.targets[5].boxes));
  // Sources given as [N, H, W] are the same single-channel items.
  CHECK(same(a, make_scenes(source.images.squeeze(1), source.labels, 12, o, 7)));
}

TEST_CASE("scene boxes lie inside the image and fit the drawn items tightly") {
  Source source;
  SceneOptions o;
  o.height = 48;
  o.width = 40;
  o.min_objects = 2;
  o.max_objects = 5;
  o.min_scale = 0.4;
  o.max_scale = 2.5;  // larger than the canvas allows at times: items are shrunk to fit
  DetectionDataset data = make_scenes(source.images, source.labels, 40, o, 1);
  int64_t objects = 0;
  for (int64_t i = 0; i < data.size(); ++i) {
    const Targets& t = data.targets[i];
    CAPTURE(i);
    REQUIRE(data.images[i].sizes() == torch::IntArrayRef({1, 48, 40}));
    CHECK((t.height == 48 && t.width == 40));
    CHECK((t.size() >= 1 && t.size() <= 5));
    objects += t.size();
    torch::Tensor b = t.boxes_xyxy;
    CHECK((b.select(1, 0) >= 0).all().item<bool>());
    CHECK((b.select(1, 1) >= 0).all().item<bool>());
    CHECK((b.select(1, 2) <= 40).all().item<bool>());
    CHECK((b.select(1, 3) <= 48).all().item<bool>());
    CHECK((b.select(1, 2) > b.select(1, 0)).all().item<bool>());
    CHECK((t.boxes >= 0).all().item<bool>());
    CHECK((t.boxes <= 1).all().item<bool>());
    CHECK(torch::allclose(cxcywh_to_xyxy(t.boxes) * torch::tensor({40.0f, 48.0f, 40.0f, 48.0f}), b, 1e-4, 1e-4));
    CHECK(torch::allclose(t.areas, box_area(b)));
    // Without noise every lit pixel belongs to some box, and each box has lit pixels on all four edges.
    torch::Tensor covered = torch::zeros({48, 40}, torch::kBool);
    for (int64_t k = 0; k < t.size(); ++k) {
      int64_t x1 = b[k][0].item<int64_t>(), y1 = b[k][1].item<int64_t>();
      int64_t x2 = b[k][2].item<int64_t>(), y2 = b[k][3].item<int64_t>();
      covered.index_put_({Slice(y1, y2), Slice(x1, x2)}, true);
      torch::Tensor inside = data.images[i][0].index({Slice(y1, y2), Slice(x1, x2)}) > 0;
      CHECK(inside[0].any().item<bool>());
      CHECK(inside[-1].any().item<bool>());
      CHECK(inside.select(1, 0).any().item<bool>());
      CHECK(inside.select(1, -1).any().item<bool>());
      int64_t label = t.labels[k].item<int64_t>();
      CHECK((label == 1 || label == 3 || label == 4));
    }
    CHECK_FALSE(((data.images[i][0] > 0) & covered.logical_not()).any().item<bool>());
  }
  CHECK(objects > 2 * 40);
}

TEST_CASE("scene options: varying sizes, an overlap limit and background noise") {
  Source source;
  SceneOptions o;
  o.min_height = 30;
  o.min_width = 20;
  o.height = 50;
  o.width = 60;
  o.max_objects = 6;
  o.max_overlap = 0.1;
  o.noise = 0.2;
  DetectionDataset data = make_scenes(source.images, source.labels, 30, o, 3);
  std::set<int64_t> heights;
  for (int64_t i = 0; i < data.size(); ++i) {
    const Targets& t = data.targets[i];
    CHECK((t.height >= 30 && t.height <= 50 && t.width >= 20 && t.width <= 60));
    CHECK(data.images[i].size(1) == t.height);
    CHECK(data.images[i].size(2) == t.width);
    heights.insert(t.height);
    if (t.size() > 1) {
      torch::Tensor overlap = box_iou(t.boxes_xyxy, t.boxes_xyxy) - torch::eye(t.size());
      CHECK(overlap.max().item<float>() <= 0.1f + 1e-6f);
    }
    // Noise reaches at most 0.2 of full scale (51) where there is no item.
    torch::Tensor background = torch::ones({t.height, t.width}, torch::kBool);
    for (int64_t k = 0; k < t.size(); ++k)
      background.index_put_({Slice(t.boxes_xyxy[k][1].item<int64_t>(), t.boxes_xyxy[k][3].item<int64_t>()),
                             Slice(t.boxes_xyxy[k][0].item<int64_t>(), t.boxes_xyxy[k][2].item<int64_t>())},
                            false);
    torch::Tensor values = data.images[i][0].masked_select(background);
    CHECK(values.max().item<int64_t>() <= 51);
    CHECK(values.to(torch::kFloat).mean().item<float>() > 10);
  }
  CHECK(heights.size() > 5);
  SceneOptions no_canvas;
  no_canvas.height = 0;
  CHECK_THROWS_AS(make_scenes(source.images, source.labels, 1, no_canvas, 0), std::invalid_argument);
  CHECK_THROWS_AS(make_scenes(source.images.to(torch::kFloat), source.labels, 1, SceneOptions(), 0),
                  std::invalid_argument);
}
