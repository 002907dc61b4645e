// What the DETR model predicts, and its conversion to scored boxes in pixels.
#pragma once

#include <torch/types.h>

#include <vector>

namespace genbox::detection {

// One entry per decoder layer, the final layer last; the earlier ones are DETR's auxiliary
// outputs. logits: [B, Q, K+1], the last class being "no object". boxes: [B, Q, 4]
// (cx, cy, w, h) in [0, 1] relative to each image's own (unpadded) size.
struct DetrOutput {
  std::vector<torch::Tensor> logits;
  std::vector<torch::Tensor> boxes;

  int64_t layers() const { return static_cast<int64_t>(logits.size()); }
  const torch::Tensor& final_logits() const { return logits.back(); }
  // Whether every layer's logits and boxes are finite (one host sync).
  bool finite() const;
  const torch::Tensor& final_boxes() const { return boxes.back(); }
  // What the set loss sees: every decoder layer's outputs, or with aux off the final layer's only.
  DetrOutput for_loss(bool aux) const { return aux ? *this : DetrOutput{{final_logits()}, {final_boxes()}}; }
};

// One image's detections.
struct Detections {
  torch::Tensor boxes;   // [n, 4] float (x1, y1, x2, y2) in pixels
  torch::Tensor scores;  // [n] float
  torch::Tensor labels;  // [n] int64 class ids in [0, K)
  int64_t size() const { return scores.size(0); }
};

// Per image, on the CPU, ordered by descending score. Softmax mode (DETR): one detection per
// query, labelled with its most probable real class and scored by that probability. Focal mode
// (Deformable DETR): sigmoid probabilities of the K real classes; the max_detections best
// (query, class) pairs, so a query may give several. sizes: [B, 2] (height, width) of each
// image without padding, which scale the normalised boxes to pixels.
std::vector<Detections> decode_detections(const torch::Tensor& logits, const torch::Tensor& boxes,
                                          const torch::Tensor& sizes, bool focal, int64_t max_detections = 100);

}  // namespace genbox::detection
