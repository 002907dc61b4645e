// DETR's evaluation pass over a test set: predictions decoded twice, at the sizes the images were
// loaded at (for pictures) and at their file's sizes (DETR's PostProcess with orig_size: what is
// scored and exported), COCO metrics against the ground truth in the file's pixels, and the mean
// set loss of the inference queries as a second view of progress.
#pragma once

#include <torch/types.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "detection/coco_json.hpp"
#include "detection/coco_map.hpp"
#include "detection/criterion.hpp"
#include "detection/dataset.hpp"
#include "detection/model.hpp"

namespace genbox::detection {

struct EvaluationOptions {
  int64_t batch_size = 50;    // test images per forward pass
  int64_t output_stride = 8;  // batches are padded to a multiple of it
  std::string precision = "fp32";
  bool focal = false;  // sigmoid scores (focal loss) rather than softmax
  int64_t max_detections = 100;
  bool aux = true;  // the loss counts every decoder layer
};

struct Evaluation {
  std::vector<Detections> drawn;       // in the pixels of the images as loaded, for the pictures
  std::vector<Detections> detections;  // in the file's pixels: scored and exported
  CocoMetrics metrics;
  double loss = 0;

  // The twelve COCO numbers and "val_loss".
  nlohmann::json json() const;
  // One line: AP, AP50, AP75, AR@100 and the loss.
  std::string summary() const;
};

// truth[i] is test image i's ground truth in its file's pixels (crowd regions included); the
// model is left in training mode. criterion is built for one query group.
Evaluation evaluate_detr(Detr& model, const SetCriterion& criterion, const DetectionDataset& test,
                         const std::vector<Targets>& truth, int64_t num_classes, const EvaluationOptions& options,
                         const torch::Device& device);

// One line per category: id, name and AP@[.5:.95] (-1: no ground truth to score it on).
std::string category_ap_table(const CocoCatalog& catalog, const std::vector<double>& ap_per_class);
// [{"id", "name", "ap"}, ...] per category, for eval.json.
nlohmann::json category_ap_json(const CocoCatalog& catalog, const std::vector<double>& ap_per_class);

}  // namespace genbox::detection
