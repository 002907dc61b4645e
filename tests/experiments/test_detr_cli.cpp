// End-to-end: the detr binary on scenes built from a tiny IDX set and on a tiny COCO-format set,
// checked through the run directory it leaves.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

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
  auto found = nlohmann::json::parse(read_text(run / results["detections_file"].get<std::string>()));
  REQUIRE(truth["images"].size() == 10);
  std::vector<detection::Targets> targets;
  std::vector<detection::Detections> detections;
  for (const auto& image : truth["images"]) {
    std::vector<torch::Tensor> boxes, found_boxes;
    std::vector<int64_t> labels, found_labels;
    std::vector<float> scores;
    for (const auto& a : truth["annotations"])
      if (a["image_id"] == image["id"]) {
        boxes.push_back(corner_box(a["bbox"]));
        labels.push_back(a["category_id"].get<int64_t>());
      }
    for (const auto& d : found)
      if (d["image_id"] == image["id"]) {
        found_boxes.push_back(corner_box(d["bbox"]));
        found_labels.push_back(d["category_id"].get<int64_t>());
        scores.push_back(d["score"].get<float>());
      }
    REQUIRE_FALSE(boxes.empty());
    targets.push_back(
        detection::make_targets(torch::tensor(labels), torch::stack(boxes), image["height"], image["width"]));
    detections.push_back({found_boxes.empty() ? torch::zeros({0, 4}) : torch::stack(found_boxes),
                          torch::tensor(scores, torch::kFloat), torch::tensor(found_labels, torch::kLong)});
  }
  detection::CocoMetrics rescored = detection::evaluate_coco(detections, targets, 4);
  CHECK(rescored.ap == doctest::Approx(results["ap"].get<double>()).epsilon(1e-4));
  CHECK(rescored.ar100 == doctest::Approx(results["ar100"].get<double>()).epsilon(1e-4));
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
