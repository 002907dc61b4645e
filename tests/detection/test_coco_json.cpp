#include <doctest/doctest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

#include "base/errors.hpp"
#include "common/images.hpp"
#include "detection/coco_json.hpp"
#include "tests/support.hpp"

using namespace genbox::detection;
using genbox::testing::TempDir;
using genbox::testing::write_text;

namespace {
// Two images, 8 x 6 and 4 x 10, with categories 7 ("shirt") and 3 ("bag"): class 0 is id 3.
// Image 11 has a bag, a shirt running off its right edge and a crowd; image 5 has one shirt.
const char* kAnnotations = R"({
  "images": [{"id": 11, "file_name": "a.png", "width": 8, "height": 6},
             {"id": 5, "file_name": "sub/b.png", "width": 4, "height": 10}],
  "categories": [{"id": 7, "name": "shirt"}, {"id": 3, "name": "bag"}],
  "annotations": [
    {"id": 1, "image_id": 11, "category_id": 3, "bbox": [1, 2, 3, 2], "area": 5.5, "iscrowd": 0},
    {"id": 2, "image_id": 11, "category_id": 7, "bbox": [6, 0, 5, 3]},
    {"id": 3, "image_id": 11, "category_id": 7, "bbox": [0, 0, 8, 6], "iscrowd": 1},
    {"id": 4, "image_id": 5, "category_id": 7, "bbox": [0.5, 1, 2, 8], "area": 12}
  ]
})";

void write_images(const TempDir& dir) {
  std::filesystem::create_directories(dir / "images/sub");
  genbox::write_png(dir / "images/a.png", torch::linspace(0, 1, 48).view({1, 6, 8}).expand({3, -1, -1}));
  genbox::write_png(dir / "images/sub/b.png", torch::full({3, 10, 4}, 0.5));
}

std::string data_error(const std::filesystem::path& annotations, const std::filesystem::path& images) {
  try {
    read_coco_detection(annotations, images);
  } catch (const genbox::DataError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("a COCO file reads into targets with contiguous classes, corner boxes and its ids") {
  TempDir dir;
  write_images(dir);
  write_text(dir / "train.json", kAnnotations);
  CocoDataset coco = read_coco_detection(dir / "train.json", dir / "images");
  REQUIRE(coco.data.size() == 2);
  CHECK(coco.catalog.image_ids == std::vector<int64_t>{11, 5});
  CHECK(coco.catalog.category_ids == std::vector<int64_t>{3, 7});
  CHECK(coco.catalog.category_names == std::vector<std::string>{"bag", "shirt"});
  CHECK(coco.data.images[0].sizes() == torch::IntArrayRef({3, 6, 8}));
  CHECK((coco.data.images[0].scalar_type() == torch::kUInt8));
  CHECK(coco.data.images[1][0][3][2].item<int>() == 128);

  const Targets& a = coco.data.targets[0];
  CHECK((a.height == 6 && a.width == 8));
  CHECK(torch::equal(a.labels, torch::tensor({0, 1}, torch::kLong)));  // the crowd is kept apart
  // [6, 0, 5, 3] runs past x = 8 and is clipped to [6, 0, 8, 3].
  CHECK(torch::allclose(a.boxes_xyxy, torch::tensor({{1.0f, 2.0f, 4.0f, 4.0f}, {6.0f, 0.0f, 8.0f, 3.0f}})));
  CHECK(torch::allclose(a.boxes[0], torch::tensor({2.5f / 8, 3.0f / 6, 3.0f / 8, 2.0f / 6})));
  CHECK(torch::allclose(a.areas, torch::tensor({5.5f, 15.0f})));  // given, else the file's w * h
  REQUIRE(a.crowds.size() == 1);
  CHECK(torch::equal(a.crowds.labels, torch::tensor({1}, torch::kLong)));
  CHECK(torch::allclose(a.crowds.boxes_xyxy, torch::tensor({{0.0f, 0.0f, 8.0f, 6.0f}})));
  CHECK(torch::allclose(a.crowds.areas, torch::tensor({48.0f})));
  const Targets& b = coco.data.targets[1];
  CHECK(torch::equal(b.labels, torch::tensor({1}, torch::kLong)));
  CHECK(torch::allclose(b.boxes_xyxy, torch::tensor({{0.5f, 1.0f, 2.5f, 9.0f}})));
  CHECK(b.crowds.size() == 0);
  // Nothing is shrunk, so the file's ground truth is the targets themselves.
  REQUIRE(coco.truth.size() == 2);
  CHECK(torch::equal(coco.truth[0].boxes_xyxy, a.boxes_xyxy));
  CHECK(torch::equal(coco.truth[0].crowds.boxes_xyxy, a.crowds.boxes_xyxy));

  CocoReadOptions first;
  first.limit = 1;
  CHECK(read_coco_detection(dir / "train.json", dir / "images", first).data.size() == 1);
}

TEST_CASE("images larger than max_size are shrunk with their boxes and areas; truth keeps the file's") {
  TempDir dir;
  write_images(dir);
  write_text(dir / "train.json", kAnnotations);
  CocoReadOptions o;
  o.max_size = 4;
  o.channels = 1;
  CocoDataset coco = read_coco_detection(dir / "train.json", dir / "images", o);
  CHECK(coco.data.images[0].sizes() == torch::IntArrayRef({1, 3, 4}));
  CHECK(coco.data.images[1].sizes() == torch::IntArrayRef({1, 4, 2}));
  const Targets& a = coco.data.targets[0];
  CHECK((a.height == 3 && a.width == 4));
  CHECK(torch::allclose(a.boxes_xyxy[0], torch::tensor({0.5f, 1.0f, 2.0f, 2.0f})));
  CHECK(a.areas[0].item<float>() == doctest::Approx(5.5 / 4));
  CHECK(torch::allclose(a.crowds.boxes_xyxy, torch::tensor({{0.0f, 0.0f, 4.0f, 3.0f}})));
  CHECK(a.crowds.areas[0].item<float>() == doctest::Approx(48.0 / 4));
  CHECK(torch::allclose(coco.data.targets[1].boxes,
                        read_coco_detection(dir / "train.json", dir / "images").data.targets[1].boxes));
  // The ground truth to score stays in the file's pixels, with the annotations' own areas.
  const Targets& file_a = coco.truth[0];
  CHECK((file_a.height == 6 && file_a.width == 8));
  CHECK(torch::allclose(file_a.boxes_xyxy, torch::tensor({{1.0f, 2.0f, 4.0f, 4.0f}, {6.0f, 0.0f, 8.0f, 3.0f}})));
  CHECK(torch::allclose(file_a.areas, torch::tensor({5.5f, 15.0f})));
  CHECK(torch::allclose(file_a.crowds.boxes_xyxy, torch::tensor({{0.0f, 0.0f, 8.0f, 6.0f}})));
  CHECK(torch::allclose(file_a.crowds.areas, torch::tensor({48.0f})));
  CHECK((coco.truth[1].height == 10 && coco.truth[1].width == 4));
  CHECK(torch::allclose(coco.truth[1].areas, torch::tensor({12.0f})));
}

TEST_CASE("written ground truth reads back as the same targets, crowd regions included") {
  TempDir dir;
  write_images(dir);
  write_text(dir / "train.json", kAnnotations);
  CocoDataset coco = read_coco_detection(dir / "train.json", dir / "images");
  write_coco_annotations(dir / "copy.json", coco.truth, coco.catalog);
  nlohmann::json written = nlohmann::json::parse(genbox::testing::read_text(dir / "copy.json"));
  REQUIRE(written["annotations"].size() == 4);
  CHECK(written["annotations"][2]["iscrowd"] == 1);  // image 11: two objects, then its crowd
  CHECK(written["annotations"][2]["bbox"] == nlohmann::json({0.0, 0.0, 8.0, 6.0}));
  CHECK(written["annotations"][3]["iscrowd"] == 0);
  CocoDataset again = read_coco_detection(dir / "copy.json", dir / "images");
  CHECK(again.catalog.image_ids == coco.catalog.image_ids);
  CHECK(again.catalog.category_ids == coco.catalog.category_ids);
  CHECK(again.catalog.category_names == coco.catalog.category_names);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(torch::equal(again.data.targets[i].labels, coco.data.targets[i].labels));
    CHECK(torch::allclose(again.data.targets[i].boxes_xyxy, coco.data.targets[i].boxes_xyxy));
    CHECK(torch::allclose(again.data.targets[i].areas, coco.data.targets[i].areas));
    CHECK(again.data.targets[i].crowds.size() == coco.data.targets[i].crowds.size());
  }
  CHECK(torch::allclose(again.data.targets[0].crowds.boxes_xyxy, coco.data.targets[0].crowds.boxes_xyxy));
  CHECK(torch::allclose(again.data.targets[0].crowds.areas, coco.data.targets[0].crowds.areas));
  // Images are written at their targets' sizes: a shrunk read's truth is still the file's frame.
  CocoReadOptions shrink;
  shrink.max_size = 4;
  write_coco_annotations(dir / "shrunk.json", read_coco_detection(dir / "train.json", dir / "images", shrink).truth,
                         coco.catalog);
  CHECK(nlohmann::json::parse(genbox::testing::read_text(dir / "shrunk.json"))["images"][0]["width"] == 8);
  CocoCatalog plain = index_catalog(2, 3);
  CHECK(plain.file_names[1] == "000001.png");
  CHECK(plain.category_ids == std::vector<int64_t>{0, 1, 2});
}

TEST_CASE("missing or malformed COCO data is a DataError naming the file") {
  TempDir dir;
  write_images(dir);
  std::string missing = data_error(dir / "none.json", dir / "images");
  CHECK(missing.find("none.json") != std::string::npos);

  write_text(dir / "broken.json", R"({"images": [)");
  std::string broken = data_error(dir / "broken.json", dir / "images");
  CHECK(broken.find("broken.json") != std::string::npos);
  CHECK(broken.find("not valid JSON") != std::string::npos);

  write_text(dir / "partial.json", R"({"images": [], "annotations": []})");
  CHECK(data_error(dir / "partial.json", dir / "images").find("\"categories\"") != std::string::npos);

  std::string text = kAnnotations;
  const std::string name_field = "\"file_name\": \"a.png\", ";
  write_text(dir / "no_name.json", std::string(text).replace(text.find(name_field), name_field.size(), ""));
  std::string no_name = data_error(dir / "no_name.json", dir / "images");
  CHECK(no_name.find("image entry 0 has no \"file_name\"") != std::string::npos);

  write_text(dir / "unknown.json",
             std::string(text).replace(text.find("\"category_id\": 3"), 16, "\"category_id\": 9"));
  CHECK(data_error(dir / "unknown.json", dir / "images").find("unknown category id 9") != std::string::npos);

  write_text(dir / "train.json", kAnnotations);
  std::filesystem::remove(dir / "images/sub/b.png");
  CHECK(data_error(dir / "train.json", dir / "images").find("b.png") != std::string::npos);

  genbox::write_png(dir / "images/sub/b.png", torch::full({3, 9, 4}, 0.5));
  std::string resized = data_error(dir / "train.json", dir / "images");
  CHECK(resized.find("b.png") != std::string::npos);
  CHECK(resized.find("4 x 9") != std::string::npos);
}
