#include <doctest/doctest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "common/images.hpp"
#include "detection/coco_json.hpp"
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

TEST_CASE("AP per class averages each class's precision alone, -1 where it has no ground truth") {
  // Class 0 is the partial case above (610/1010); class 1 has one object found exactly (1);
  // class 2 has a detection but no ground truth (-1). Overall AP averages the classes that have
  // ground truth: (610/1010 + 1) / 2.
  Targets gt = truth({{0, 0, 10, 10}, {20, 0, 30, 10}, {50, 50, 90, 90}}, {0, 0, 1});
  Detections dt = found({{0, 0, 10, 10}, {100, 100, 120, 120}, {20, 0, 30, 6.2f}, {50, 50, 90, 90}, {0, 150, 9, 160}},
                        {0, 0, 0, 1, 2}, {0.9f, 0.8f, 0.7f, 0.6f, 0.5f});
  CocoMetrics m = evaluate_coco({dt}, {gt}, 3);
  REQUIRE(m.ap_per_class.size() == 3);
  CHECK(m.ap_per_class[0] == doctest::Approx(610.0 / 1010).epsilon(1e-9));
  CHECK(m.ap_per_class[1] == doctest::Approx(1.0));
  CHECK(m.ap_per_class[2] == -1.0);
  CHECK(m.ap == doctest::Approx((610.0 / 1010 + 1) / 2).epsilon(1e-9));
}

TEST_CASE("a crowd region takes the detections on it out of the count, by hand") {
  // One 200 x 200 image, class 0: object A = [0,0,10,10] and a crowd region C = [0,0,100,100]
  // (annotation area 5000) around it. Detections by score:
  //   d1 0.9 [50,50,60,60]: inside C only. Crowd IoU = intersection / detection area = 100/100 = 1.
  //   d2 0.8 [50,92.25,70,102.25] (area 200): 20 x 7.75 = 155 inside C, crowd IoU 0.775.
  //   d3 0.7 [0,0,10,10]: A exactly (IoU 1; its crowd IoU is 1 too, but C is ignored ground truth,
  //      sorted after A, so A wins).
  // C never counts as a positive: one positive (A). At thresholds 0.50..0.75 (six) d1 and d2 both
  // match C (a crowd takes any number of detections) and are ignored: d3 alone, TP -> AP 1. At
  // 0.80..0.95 (four) d2 finds nothing and is a false positive: FP TP -> recall 0 1, precision
  // 0 1/2, made monotone 1/2 1/2 -> AP 1/2. AP = (6 * 1 + 4 * 1/2) / 10 = 0.8; AP50 = AP75 = 1.
  // AR@1 takes each image's best detection, d1, which is ignored: 0. AR@10 = AR@100 = 1.
  // Every box is small (areas 100, 200, 100), so AP small = AP; C's area is medium, but crowd
  // regions never count, so AP medium has no ground truth: -1. Class 1 has a detection and no
  // ground truth: -1.
  Targets gt = truth({{0, 0, 10, 10}}, {0});
  gt.crowds = make_crowds(torch::tensor({0}, torch::kLong), torch::tensor({{0.0f, 0.0f, 100.0f, 100.0f}}),
                          torch::tensor({5000.0f}));
  Detections dt = found({{50, 50, 60, 60}, {50, 92.25f, 70, 102.25f}, {0, 0, 10, 10}, {120, 120, 130, 130}},
                        {0, 0, 0, 1}, {0.9f, 0.8f, 0.7f, 0.95f});
  CocoMetrics m = evaluate_coco({dt}, {gt}, 2);
  CHECK(m.ap == doctest::Approx(0.8));
  CHECK(m.ap50 == doctest::Approx(1.0));
  CHECK(m.ap75 == doctest::Approx(1.0));
  CHECK(m.ap_small == doctest::Approx(0.8));
  CHECK(m.ap_medium == -1.0);
  CHECK(m.ar1 == 0.0);
  CHECK(m.ar10 == doctest::Approx(1.0));
  CHECK(m.ar100 == doctest::Approx(1.0));
  CHECK(m.ar_medium == -1.0);
  REQUIRE(m.ap_per_class.size() == 2);
  CHECK(m.ap_per_class[0] == doctest::Approx(0.8));
  CHECK(m.ap_per_class[1] == -1.0);
  // Without the crowd region d1 and d2 are false positives at every threshold: FP FP TP ->
  // precision 1/3 at recall 1, AP 1/3.
  gt.crowds = {};
  CHECK(evaluate_coco({dt}, {gt}, 2).ap == doctest::Approx(1.0 / 3));
}

TEST_CASE("a shrunk image is scored in its file's pixels, with the annotations' areas, by hand") {
  // A 200 x 100 image read with max_size 100 is loaded at 100 x 50. Its annotations (class 0):
  //   P [10,10,40,40] area 1600: medium;
  //   Q [100,10,40,40] area 900: small by its area (as a segmentation's would be), medium by its box;
  //   R [150,0,50,100] area 5000, a crowd region.
  // Detections in the file's pixels (the loaded image's are half these), by score:
  //   dP 0.9 = P, dF 0.85 [60,60,80,80] on nothing (area 400), dR 0.82 [160,20,180,40] inside R,
  //   dQ 0.8 = Q (area 1600).
  // All areas: dP TP, dF FP, dR ignored (crowd IoU 1), dQ TP at every threshold -> recall .5 .5 1,
  //   precision 1 1/2 2/3, monotone 1 2/3 2/3: 51 recall points at 1, 50 at 2/3 -> 253/303.
  // Small (gt area <= 32^2): P is ignored, and so is dP, which matches it; Q counts. dF (area 400)
  //   is a false positive; dQ matches Q and is a TP although its own area is medium: FP TP -> 1/2.
  // Medium: P counts, Q is ignored, so dQ (matched to it) is ignored; dF is unmatched and outside
  //   the range, ignored: dP alone, TP -> 1. Large: no ground truth, -1.
  // AR@1: dP only, one of two objects -> 1/2; AR@100 = AR small = AR medium = 1.
  // In the loaded image's pixels every area is a quarter: P 400 and Q 225 are both small, AP small
  // is 253/303 and AP medium -1: the shrinking would have moved P between ranges.
  genbox::testing::TempDir dir;
  genbox::write_png(dir / "wide.png", torch::full({3, 100, 200}, 0.25));
  genbox::testing::write_text(dir / "val.json", R"({
    "images": [{"id": 1, "file_name": "wide.png", "width": 200, "height": 100}],
    "categories": [{"id": 1, "name": "thing"}],
    "annotations": [
      {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 40], "area": 1600, "iscrowd": 0},
      {"id": 2, "image_id": 1, "category_id": 1, "bbox": [100, 10, 40, 40], "area": 900, "iscrowd": 0},
      {"id": 3, "image_id": 1, "category_id": 1, "bbox": [150, 0, 50, 100], "area": 5000, "iscrowd": 1}]})");
  CocoReadOptions options;
  options.max_size = 100;
  CocoDataset coco = read_coco_detection(dir / "val.json", dir.path(), options);
  REQUIRE((coco.data.targets[0].width == 100 && coco.truth[0].width == 200));
  Detections in_file = found({{10, 10, 50, 50}, {60, 60, 80, 80}, {160, 20, 180, 40}, {100, 10, 140, 50}}, {0, 0, 0, 0},
                             {0.9f, 0.85f, 0.82f, 0.8f});
  CocoMetrics m = evaluate_coco({in_file}, coco.truth, 1);
  CHECK(m.ap == doctest::Approx(253.0 / 303).epsilon(1e-9));
  CHECK(m.ap50 == doctest::Approx(253.0 / 303).epsilon(1e-9));
  CHECK(m.ap75 == doctest::Approx(253.0 / 303).epsilon(1e-9));
  CHECK(m.ap_small == doctest::Approx(0.5));
  CHECK(m.ap_medium == doctest::Approx(1.0));
  CHECK(m.ap_large == -1.0);
  CHECK(m.ar1 == doctest::Approx(0.5));
  CHECK(m.ar100 == doctest::Approx(1.0));
  CHECK(m.ar_small == doctest::Approx(1.0));
  CHECK(m.ar_medium == doctest::Approx(1.0));
  CHECK(m.ar_large == -1.0);

  Detections in_loaded{in_file.boxes * 0.5, in_file.scores, in_file.labels};
  CocoMetrics loaded = evaluate_coco({in_loaded}, coco.data.targets, 1);
  CHECK(loaded.ap == doctest::Approx(253.0 / 303).epsilon(1e-9));
  CHECK(loaded.ap_small == doctest::Approx(253.0 / 303).epsilon(1e-9));
  CHECK(loaded.ap_medium == -1.0);
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
