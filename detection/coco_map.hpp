// COCO box evaluation as pycocotools' COCOeval defines it (iouType "bbox"): per category and
// image, detections sorted by score are greedily matched to the unmatched ground truth of
// highest IoU at each of the IoU thresholds 0.50:0.05:0.95; precision is made monotone and read
// at 101 recall points; AP and AR average over thresholds and over the categories that have
// ground truth. Ignored ground truth (crowd regions, and objects outside an area range) never
// counts as a positive; a detection that finds no counted object may match it instead (a crowd
// region any number of them, by intersection over the detection's area) and is then neither a
// hit nor a false positive, as are unmatched detections outside the area range.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "detection/predictions.hpp"
#include "detection/targets.hpp"

namespace genbox::detection {

// The twelve numbers COCOeval.summarize() prints, in its order; -1 where undefined (no ground
// truth in that area range). Areas are in pixels: small < 32^2 <= medium < 96^2 <= large.
struct CocoMetrics {
  double ap = -1, ap50 = -1, ap75 = -1, ap_small = -1, ap_medium = -1, ap_large = -1;
  double ar1 = -1, ar10 = -1, ar100 = -1, ar_small = -1, ar_medium = -1, ar_large = -1;
  // AP@[.5:.95] of each class alone (area "all", 100 detections): COCOeval's precision[:, :, k, 0, 2]
  // averaged over thresholds and recall points; -1 for a class without counted ground truth.
  std::vector<double> ap_per_class;

  // ("ap", ap), ("ap50", ap50), ..., ("ar_large", ar_large), in the order above.
  std::vector<std::pair<std::string, double>> named() const;
};

// detections[i] and ground_truth[i] belong to image i, both in the same pixels (for COCO files
// the file's own, as pycocotools scores them); boxes are corner boxes, labels class ids in
// [0, num_classes). Ground-truth areas come from Targets::areas and crowds.areas (the
// annotation's area for COCO files, the box area for synthetic scenes), detection areas from
// their boxes. As
// in COCOeval, at most 1, 10 or 100 detections of each category in each image count (the
// highest scoring), and equal scores keep image order, then the order given.
CocoMetrics evaluate_coco(const std::vector<Detections>& detections, const std::vector<Targets>& ground_truth,
                          int64_t num_classes);

// Writes detections as a COCO results file, [{"image_id", "category_id", "bbox": [x, y, w, h],
// "score"}, ...], for pycocotools' COCO.loadRes. image_ids[i] is image i's id and
// category_ids[k] the id of class k; empty vectors mean ids equal to the indices.
void write_coco_results(const std::filesystem::path& path, const std::vector<Detections>& detections,
                        const std::vector<int64_t>& image_ids = {}, const std::vector<int64_t>& category_ids = {});

}  // namespace genbox::detection
