// End-to-end: the detr binary on scenes built from a tiny IDX set and on a tiny COCO-format set,
// checked through the run directory it leaves.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "common/data/idx.hpp"
#include "common/images.hpp"
#include "detection/coco_map.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {
const std::string kTinyModel =
    " model.width=16 model.heads=2 model.ffn=32 model.encoder_layers=1 model.decoder_layers=2"
    " model.backbone_channels=[8,16] model.output_stride=4 model.num_queries=6 device.threads=1";

// The corner boxes of a COCO bbox array [x, y, w, h].
torch::Tensor corner_box(const nlohmann::json& bbox) {
  double x = bbox[0], y = bbox[1], w = bbox[2], h = bbox[3];
  return torch::tensor({x, y, x + w, y + h}, torch::kFloat);
}

torch::Tensor stacked_boxes(const std::vector<torch::Tensor>& boxes) {
  return boxes.empty() ? torch::zeros({0, 4}) : torch::stack(boxes);
}

// The metrics of the COCO files an eval wrote, scored again from the files alone: objects,
// crowd regions (iscrowd 1) and detections, classes by the order of the categories' ids.
detection::CocoMetrics rescore(const std::filesystem::path& run, const nlohmann::json& results) {
  auto truth = nlohmann::json::parse(read_text(run / results["ground_truth_file"].get<std::string>()));
  auto found = nlohmann::json::parse(read_text(run / results["detections_file"].get<std::string>()));
  std::map<int64_t, int64_t> class_of;
  for (const auto& category : truth["categories"]) class_of[category["id"].get<int64_t>()] = 0;
  int64_t next = 0;
  for (auto& entry : class_of) entry.second = next++;
  std::vector<detection::Targets> targets;
  std::vector<detection::Detections> detections;
  for (const auto& image : truth["images"]) {
    std::vector<torch::Tensor> boxes, crowd_boxes, found_boxes;
    std::vector<int64_t> labels, crowd_labels, found_labels;
    std::vector<float> areas, crowd_areas, scores;
    for (const auto& a : truth["annotations"])
      if (a["image_id"] == image["id"]) {
        const bool crowd = a["iscrowd"] == 1;
        (crowd ? crowd_boxes : boxes).push_back(corner_box(a["bbox"]));
        (crowd ? crowd_labels : labels).push_back(class_of.at(a["category_id"].get<int64_t>()));
        (crowd ? crowd_areas : areas).push_back(a["area"].get<float>());
      }
    for (const auto& d : found)
      if (d["image_id"] == image["id"]) {
        found_boxes.push_back(corner_box(d["bbox"]));
        found_labels.push_back(class_of.at(d["category_id"].get<int64_t>()));
        scores.push_back(d["score"].get<float>());
      }
    detection::Targets t = detection::make_targets(torch::tensor(labels, torch::kLong), stacked_boxes(boxes),
                                                   image["height"], image["width"], torch::tensor(areas));
    t.crowds = detection::make_crowds(torch::tensor(crowd_labels, torch::kLong), stacked_boxes(crowd_boxes),
                                      torch::tensor(crowd_areas));
    targets.push_back(t);
    detections.push_back(
        {stacked_boxes(found_boxes), torch::tensor(scores, torch::kFloat), torch::tensor(found_labels, torch::kLong)});
  }
  return detection::evaluate_coco(detections, targets, static_cast<int64_t>(class_of.size()));
}
}  // namespace

TEST_CASE("detr train, sample and eval on synthetic scenes leave a complete run directory") {
  TempDir out;
  write_tiny_item_set(out.path());
  const std::string common = " data.root=" + out.path().string() +
                             " data.height=32 data.width=32 data.min_height=24"
                             " data.train_scenes=24 data.test_scenes=10 eval.batch_size=4" +
                             kTinyModel + " run.out_dir=" + out.path().string();
  auto train = run_command(binary("detr") +
                           " train train.steps=6 train.batch_size=4 train.eval_every=3 train.sample_every=3"
                           " train.log_every=2" +
                           common);
  INFO(train.output);
  REQUIRE(train.exit_code == 0);
  std::filesystem::path run = only_run(out.path(), "detr");
  for (const char* f : {"config.toml", "meta.json", "metrics.jsonl", "log.txt", "checkpoints/last.pt",
                        "checkpoints/best.pt", "samples/step_0000003.png", "samples/step_0000006.png"})
    CHECK_MESSAGE(std::filesystem::exists(run / f), f);
  auto meta = nlohmann::json::parse(read_text(run / "meta.json"));
  CHECK(meta["status"] == "finished");
  CHECK(meta["step"] == 6);
  CHECK(meta["num_classes"] == 4);

  // Train lines carry every decoder layer's losses; eval lines the COCO metrics.
  int train_lines = 0, eval_lines = 0;
  std::istringstream lines(read_text(run / "metrics.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["split"] == "train") {
      ++train_lines;
      CHECK(j.contains("loss_giou"));
      CHECK(j.contains("loss_giou_0"));  // the auxiliary (first) decoder layer
    } else {
      ++eval_lines;
      for (const char* key : {"ap", "ap50", "ap75", "ar100", "val_loss"}) CHECK_MESSAGE(j.contains(key), key);
      CHECK(j["ap"].get<double>() >= 0.0);
      CHECK(j["ap"].get<double>() <= 1.0);
    }
  }
  CHECK(train_lines == 3);
  CHECK(eval_lines == 3);  // before training, then steps 3 and 6

  auto sample = run_command(binary("detr") + " sample " + run.string() + " --n 5");
  INFO(sample.output);
  REQUIRE(sample.exit_code == 0);
  torch::Tensor sheet = read_image(run / "samples/sample_best.png", 3);
  CHECK(sheet.size(1) > 32 * 4);  // two rows of enlarged scenes

  auto eval = run_command(binary("detr") + " eval " + run.string());
  INFO(eval.output);
  REQUIRE(eval.exit_code == 0);
  auto results = nlohmann::json::parse(read_text(run / "eval.json"));
  CHECK(results["images"] == 10);

  // The exported COCO files hold exactly what was scored: re-scoring them gives eval.json's AP.
  auto truth = nlohmann::json::parse(read_text(run / results["ground_truth_file"].get<std::string>()));
  REQUIRE(truth["images"].size() == 10);
  CHECK(truth["categories"][1]["name"] == "Trouser");  // the scenes' classes are Fashion-MNIST's
  std::set<int64_t> images_with_objects;
  for (const auto& a : truth["annotations"]) images_with_objects.insert(a["image_id"].get<int64_t>());
  CHECK(images_with_objects.size() == 10);  // every scene has an object
  detection::CocoMetrics rescored = rescore(run, results);
  CHECK(rescored.ap == doctest::Approx(results["ap"].get<double>()).epsilon(1e-4));
  CHECK(rescored.ar100 == doctest::Approx(results["ar100"].get<double>()).epsilon(1e-4));
  REQUIRE(results["ap_per_category"].size() == 4);
  CHECK(results["ap_per_category"][0]["name"] == "T-shirt/top");
  CHECK(eval.output.find("Pullover") != std::string::npos);  // the per-category table
}

TEST_CASE("detr trains on a COCO-format set and reports its own category ids") {
  TempDir out;
  std::filesystem::path root = out / "coco";
  std::filesystem::create_directories(root / "annotations");
  nlohmann::json images = nlohmann::json::array(), annotations = nlohmann::json::array();
  for (int64_t i = 0; i < 6; ++i) {
    std::string name = fmt::format("{:02d}.png", i);
    torch::Tensor image = torch::zeros({3, 20, 24 + 4 * (i % 2)});
    image.slice(1, 2 + i, 10 + i).slice(2, 3, 13).fill_(0.9);
    for (const char* split : {"train", "val"}) {
      std::filesystem::create_directories(root / split);
      write_png(root / split / name, image);
    }
    images.push_back({{"id", 100 + i}, {"file_name", name}, {"width", 24 + 4 * (i % 2)}, {"height", 20}});
    annotations.push_back({{"id", i + 1},
                           {"image_id", 100 + i},
                           {"category_id", i % 2 ? 9 : 4},
                           {"bbox", {3, 2 + i, 10, 8}},
                           {"iscrowd", 0}});
  }
  nlohmann::json file = {{"images", images},
                         {"annotations", annotations},
                         {"categories", {{{"id", 4}, {"name", "four"}}, {{"id", 9}, {"name", "nine"}}}}};
  write_text(root / "annotations/train.json", file.dump());
  write_text(root / "annotations/val.json", file.dump());
  const std::string common = " data.source=coco data.root=" + root.string() +
                             " data.train_annotations=annotations/train.json data.train_images=train"
                             " data.val_annotations=annotations/val.json data.val_images=val" +
                             kTinyModel + " run.out_dir=" + out.path().string();
  auto train = run_command(binary("detr") + " train train.steps=4 train.batch_size=3 train.eval_every=2" + common);
  INFO(train.output);
  REQUIRE(train.exit_code == 0);
  std::filesystem::path run = only_run(out.path(), "detr");
  CHECK(nlohmann::json::parse(read_text(run / "meta.json"))["num_classes"] == 2);
  auto eval = run_command(binary("detr") + " eval " + run.string());
  INFO(eval.output);
  REQUIRE(eval.exit_code == 0);
  auto results = nlohmann::json::parse(read_text(run / "eval.json"));
  CHECK(results["images"] == 6);
  auto found = nlohmann::json::parse(read_text(run / results["detections_file"].get<std::string>()));
  REQUIRE(found.size() > 0);
  for (const auto& d : found) {
    CHECK(d["image_id"].get<int64_t>() >= 100);
    CHECK((d["category_id"] == 4 || d["category_id"] == 9));
  }
}

TEST_CASE("detr eval scores a shrunk COCO set in its file's pixels and keeps its crowd regions") {
  // Two images of the same uniform gray: x.png at 24 x 20 and y.png at 48 x 40, which
  // data.max_size=24 shrinks to 24 x 20. The model sees the same pixels twice, so y's detections
  // must be x's at twice the size: the normalised predictions times each file's own size.
  TempDir out;
  std::filesystem::path root = out / "coco";
  std::filesystem::create_directories(root / "images");
  write_png(root / "images/x.png", torch::full({3, 20, 24}, 0.5));
  write_png(root / "images/y.png", torch::full({3, 40, 48}, 0.5));
  nlohmann::json file = {
      {"images",
       {{{"id", 7}, {"file_name", "x.png"}, {"width", 24}, {"height", 20}},
        {{"id", 3}, {"file_name", "y.png"}, {"width", 48}, {"height", 40}}}},
      {"categories", {{{"id", 4}, {"name", "four"}}, {{"id", 9}, {"name", "nine"}}}},
      {"annotations",
       {{{"id", 1}, {"image_id", 7}, {"category_id", 4}, {"bbox", {2, 2, 10, 8}}, {"area", 70}, {"iscrowd", 0}},
        {{"id", 2}, {"image_id", 7}, {"category_id", 9}, {"bbox", {12, 0, 12, 20}}, {"area", 200}, {"iscrowd", 1}},
        {{"id", 3}, {"image_id", 3}, {"category_id", 9}, {"bbox", {4, 4, 20, 16}}, {"area", 250}, {"iscrowd", 0}}}}};
  write_text(root / "annotations.json", file.dump());
  const std::string data = " data.source=coco data.root=" + root.string() +
                           " data.train_annotations=annotations.json data.train_images=images"
                           " data.val_annotations=annotations.json data.val_images=images data.max_size=24";
  auto train = run_command(binary("detr") + " train train.steps=2 train.batch_size=2 train.eval_every=2" + data +
                           kTinyModel + " run.out_dir=" + out.path().string());
  INFO(train.output);
  REQUIRE(train.exit_code == 0);
  std::filesystem::path run = only_run(out.path(), "detr");
  auto eval = run_command(binary("detr") + " eval " + run.string());
  INFO(eval.output);
  REQUIRE(eval.exit_code == 0);
  auto results = nlohmann::json::parse(read_text(run / "eval.json"));

  // The ground truth written back is the file's: sizes, boxes, areas, and the crowd region.
  auto truth = nlohmann::json::parse(read_text(run / results["ground_truth_file"].get<std::string>()));
  REQUIRE(truth["images"].size() == 2);
  CHECK(truth["images"][1] == nlohmann::json({{"id", 3}, {"file_name", "y.png"}, {"width", 48}, {"height", 40}}));
  REQUIRE(truth["annotations"].size() == 3);
  CHECK(truth["annotations"][1]["iscrowd"] == 1);
  CHECK(truth["annotations"][1]["bbox"] == nlohmann::json({12.0, 0.0, 12.0, 20.0}));
  CHECK(truth["annotations"][2]["bbox"] == nlohmann::json({4.0, 4.0, 20.0, 16.0}));
  CHECK(truth["annotations"][2]["area"] == 250.0);

  auto found = nlohmann::json::parse(read_text(run / results["detections_file"].get<std::string>()));
  std::vector<nlohmann::json> of_x, of_y;
  for (const auto& d : found) (d["image_id"] == 7 ? of_x : of_y).push_back(d);
  REQUIRE(of_x.size() == 6);  // one per query
  REQUIRE(of_y.size() == of_x.size());
  for (size_t j = 0; j < of_x.size(); ++j) {
    CHECK(of_y[j]["category_id"] == of_x[j]["category_id"]);
    CHECK(of_y[j]["score"].get<double>() == doctest::Approx(of_x[j]["score"].get<double>()).epsilon(1e-5));
    for (int c = 0; c < 4; ++c)
      CHECK(of_y[j]["bbox"][c].get<double>() ==
            doctest::Approx(2 * of_x[j]["bbox"][c].get<double>()).epsilon(1e-5).scale(1e-3));
  }

  detection::CocoMetrics rescored = rescore(run, results);
  CHECK(rescored.ap == doctest::Approx(results["ap"].get<double>()).epsilon(1e-4));
  CHECK(rescored.ap_small == doctest::Approx(results["ap_small"].get<double>()).epsilon(1e-4));
  REQUIRE(results["ap_per_category"].size() == 2);
  CHECK(results["ap_per_category"][1]["id"] == 9);
  CHECK(results["ap_per_category"][1]["name"] == "nine");
  CHECK(results["ap_per_category"][1]["ap"].get<double>() == doctest::Approx(rescored.ap_per_class[1]).epsilon(1e-4));
  CHECK(eval.output.find("nine") != std::string::npos);
}

TEST_CASE("the README's detr key table is the one the binary prints") {
  auto markdown = run_command(binary("detr") + " train --print-config=markdown 2>/dev/null");
  REQUIRE(markdown.exit_code == 0);
  std::string readme = read_text(source_dir() / "README.md");
  CHECK_MESSAGE(readme.find(markdown.output) != std::string::npos,
                "README.md is out of date: paste `build/bin/detr train --print-config=markdown` into it");
}

TEST_CASE("detr config and data errors exit before anything is written") {
  TempDir out;
  const std::string where = " run.out_dir=" + out.path().string();
  auto typo = run_command(binary("detr") + " train loss.focall=true" + where);
  CHECK(typo.exit_code == 2);
  CHECK(typo.output.find("did you mean 'loss.focal'?") != std::string::npos);
  auto objects = run_command(binary("detr") + " train data.min_objects=5 data.max_objects=2" + where);
  CHECK(objects.exit_code == 2);
  CHECK(objects.output.find("data.min_objects = 5 exceeds data.max_objects = 2") != std::string::npos);
  auto missing = run_command(binary("detr") + " train data.root=" + (out / "absent").string() + where);
  CHECK(missing.exit_code == 3);
  CHECK(missing.output.find("t10k-images-idx3-ubyte.gz (or without .gz): no such file") != std::string::npos);
  auto coco = run_command(binary("detr") + " train data.source=coco data.root=" + (out / "absent").string() + where);
  CHECK(coco.exit_code == 3);
  CHECK(coco.output.find("instances_val2017.json") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out / "detr"));
}
