#include <doctest/doctest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "detection/coco_map.hpp"
#include "tests/support.hpp"

using namespace genbox::detection;

namespace {
Targets truth(const std::vector<std::vector<float>>& boxes, std::vector<int64_t> labels) {
  torch::Tensor xyxy = torch::zeros({static_cast<int64_t>(boxes.size()), 4});
  for (size_t i = 0; i < boxes.size(); ++i) xyxy[i] = torch::tensor(boxes[i]);
  return make_targets(torch::tensor(labels, torch::kLong), xyxy, 200, 200);
}

Detections found(const std::vector<std::vector<float>>& boxes, std::vector<int64_t> labels, std::vector<float> scores) {
  Targets t = truth(boxes, labels);
  return {t.boxes_xyxy, torch::tensor(scores), t.labels};
}
}  // namespace

TEST_CASE("perfect detections score 1 wherever ground truth exists and -1 elsewhere") {
  // "1" is 1 / (1 + 2^-52) where precision is read after a single true positive: COCOeval adds
  // machine epsilon to the denominator, and so does this evaluation.
  // Two images, three classes; objects of 10 x 10 (small) and 40 x 40 (medium) pixels.
  std::vector<Targets> gt = {truth({{0, 0, 10, 10}, {50, 50, 90, 90}}, {0, 2}), truth({{20, 20, 30, 30}}, {2})};
  std::vector<Detections> dt = {found({{0, 0, 10, 10}, {50, 50, 90, 90}}, {0, 2}, {0.9f, 0.3f}),
                                found({{20, 20, 30, 30}}, {2}, {0.5f})};
  CocoMetrics m = evaluate_coco(dt, gt, 3);
  CHECK(m.ap == doctest::Approx(1.0));
  CHECK(m.ap50 == doctest::Approx(1.0));
  CHECK(m.ap75 == doctest::Approx(1.0));
  CHECK(m.ap_small == doctest::Approx(1.0));
  CHECK(m.ap_medium == doctest::Approx(1.0));
  CHECK(m.ap_large == -1.0);
  CHECK(m.ar1 == doctest::Approx(1.0));
  CHECK(m.ar100 == doctest::Approx(1.0));
  CHECK(m.ar_large == -1.0);
  // No detections at all: zero, not undefined.
  CocoMetrics none = evaluate_coco({found({}, {}, {}), found({}, {}, {})}, gt, 3);
  CHECK(none.ap == 0.0);
  CHECK(none.ar100 == 0.0);
}

TEST_CASE("a partial case by hand: one match at every threshold, one up to IoU 0.62, one false positive") {
  // Truth A = [0,0,10,10] and B = [20,0,30,10] (class 0). Detections by score: exact A (0.9), a
  // miss (0.8), and B cut to 6.2 rows (0.7), IoU 0.62: matched at 0.50, 0.55, 0.60 only.
  // Thresholds <= 0.6: TP FP TP -> recall .5 .5 1, precision 1 .5 2/3; the 101-point reading is
  // 1 up to recall .5 (51 points) and 2/3 above (50 points): (51 + 100/3) / 101 = 253/303.
  // Thresholds >= 0.65: TP FP FP -> 51/101. AP = (3 * 253/303 + 7 * 51/101) / 10 = 610/1010.
  std::vector<Targets> gt = {truth({{0, 0, 10, 10}, {20, 0, 30, 10}}, {0, 0})};
  std::vector<Detections> dt = {
      found({{0, 0, 10, 10}, {100, 100, 120, 120}, {20, 0, 30, 6.2f}}, {0, 0, 0}, {0.9f, 0.8f, 0.7f})};
  CocoMetrics m = evaluate_coco(dt, gt, 1);
  CHECK(m.ap == doctest::Approx(610.0 / 1010).epsilon(1e-9));
  CHECK(m.ap50 == doctest::Approx(253.0 / 303).epsilon(1e-9));
  CHECK(m.ap75 == doctest::Approx(51.0 / 101).epsilon(1e-9));
  CHECK(m.ap_small == doctest::Approx(610.0 / 1010).epsilon(1e-9));
  CHECK(m.ap_medium == -1.0);
  // Recall: 1 at three thresholds, 1/2 at seven; with one detection per image only A is found.
  CHECK(m.ar100 == doctest::Approx(0.65));
  CHECK(m.ar10 == doctest::Approx(0.65));
  CHECK(m.ar1 == doctest::Approx(0.5));
}

TEST_CASE("equal scores keep image order, then the given order, as COCOeval's stable sort does") {
  // Image 0: a hit at 0.9 and a false positive at 0.5; image 1: a hit at 0.5. Ties put image 0's
  // false positive first: TP FP TP, AP 253/303 at every threshold. Swapping the images puts the
  // hit first: TP TP FP, AP 1.
  Targets a = truth({{0, 0, 10, 10}}, {0}), b = truth({{0, 0, 20, 20}}, {0});
  Detections with_miss = found({{0, 0, 10, 10}, {50, 50, 60, 60}}, {0, 0}, {0.9f, 0.5f});
  Detections hit = found({{0, 0, 20, 20}}, {0}, {0.5f});
  CHECK(evaluate_coco({with_miss, hit}, {a, b}, 1).ap == doctest::Approx(253.0 / 303).epsilon(1e-9));
  CHECK(evaluate_coco({hit, with_miss}, {b, a}, 1).ap == doctest::Approx(1.0));
  // Within an image too: the miss listed before the hit at an equal score comes first.
  Targets two = truth({{0, 0, 10, 10}, {20, 20, 30, 30}}, {0, 0});
  Detections miss_first = found({{0, 0, 10, 10}, {60, 60, 70, 70}, {20, 20, 30, 30}}, {0, 0, 0}, {0.9f, 0.5f, 0.5f});
  Detections hit_first = found({{0, 0, 10, 10}, {20, 20, 30, 30}, {60, 60, 70, 70}}, {0, 0, 0}, {0.9f, 0.5f, 0.5f});
  CHECK(evaluate_coco({miss_first}, {two}, 1).ap == doctest::Approx(253.0 / 303).epsilon(1e-9));
  CHECK(evaluate_coco({hit_first}, {two}, 1).ap == doctest::Approx(1.0));
}

TEST_CASE("area ranges ignore objects and detections outside them instead of counting them") {
  // A large (100 x 100) and a small (10 x 10) object, both found, the large one with the higher
  // score. In the small range the large object is ignored and so is the detection matched to it.
  std::vector<Targets> gt = {truth({{0, 0, 100, 100}, {150, 150, 160, 160}}, {0, 0})};
  std::vector<Detections> dt = {found({{0, 0, 100, 100}, {150, 150, 160, 160}}, {0, 0}, {0.9f, 0.8f})};
  CocoMetrics m = evaluate_coco(dt, gt, 1);
  CHECK(m.ap_small == doctest::Approx(1.0));
  CHECK(m.ap_large == doctest::Approx(1.0));
  CHECK(m.ap_medium == -1.0);
  // An unmatched small detection is a false positive in the small range only: TP(large) is
  // ignored there, FP then TP(small) gives 1/2 precision at recall 1.
  std::vector<Detections> extra = {
      found({{0, 0, 100, 100}, {170, 170, 180, 180}, {150, 150, 160, 160}}, {0, 0, 0}, {0.9f, 0.85f, 0.8f})};
  CocoMetrics e = evaluate_coco(extra, gt, 1);
  CHECK(e.ap_small == doctest::Approx(0.5));
  CHECK(e.ap_large == doctest::Approx(1.0));
  // Only 100 detections per image and category count; the 101st (a hit) is dropped.
  std::vector<std::vector<float>> boxes(100, std::vector<float>{180, 0, 190, 10});
  boxes.push_back({0, 0, 100, 100});
  std::vector<float> scores(101, 0.5f);
  CHECK(
      evaluate_coco({found(boxes, std::vector<int64_t>(101, 0), scores)}, {truth({{0, 0, 100, 100}}, {0})}, 1).ar100 ==
      0.0);
}

TEST_CASE("COCO evaluation rejects labels outside the classes and mismatched image counts") {
  std::vector<Targets> gt = {truth({{0, 0, 10, 10}}, {1})};
  CHECK_THROWS_AS(evaluate_coco({found({{0, 0, 10, 10}}, {2}, {0.5f})}, gt, 2), std::invalid_argument);
  CHECK_THROWS_AS(evaluate_coco({}, gt, 2), std::invalid_argument);
}

TEST_CASE("detections export as a COCO results file with xywh boxes and the given ids") {
  genbox::testing::TempDir dir;
  std::vector<Detections> dt = {found({{1, 2, 11, 7}}, {1}, {0.75f}),
                                found({{0, 0, 4, 4}, {3, 3, 5, 9}}, {0, 1}, {0.5f, 0.25f})};
  write_coco_results(dir / "results.json", dt, {42, 7}, {3, 9});
  nlohmann::json j = nlohmann::json::parse(genbox::testing::read_text(dir / "results.json"));
  REQUIRE(j.size() == 3);
  CHECK(j[0]["image_id"] == 42);
  CHECK(j[0]["category_id"] == 9);
  CHECK(j[0]["bbox"] == nlohmann::json({1.0, 2.0, 10.0, 5.0}));
  CHECK(j[0]["score"].get<double>() == doctest::Approx(0.75));
  CHECK(j[2]["image_id"] == 7);
  CHECK(j[2]["category_id"] == 9);
  CHECK(j[2]["bbox"] == nlohmann::json({3.0, 3.0, 2.0, 6.0}));
  write_coco_results(dir / "plain.json", dt);
  CHECK(nlohmann::json::parse(genbox::testing::read_text(dir / "plain.json"))[1]["category_id"] == 0);
}
