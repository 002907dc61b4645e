// The ground truth of one image, as every data source (synthetic scenes, COCO JSON) yields it and
// the matcher, the criterion and the evaluation read it.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace genbox::detection {

struct Targets {
  torch::Tensor labels;           // [n] int64, contiguous class ids in [0, num_classes)
  torch::Tensor boxes;            // [n, 4] float (cx, cy, w, h) divided by the image's own width and height
  torch::Tensor boxes_xyxy;       // [n, 4] float (x1, y1, x2, y2) in pixels of the image's own size
  torch::Tensor areas;            // [n] float object areas in pixels, for COCO's small/medium/large split
  int64_t height = 0, width = 0;  // the image's own size, without batch padding

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  // The same targets with every tensor on `device`.
  Targets to(const torch::Device& device) const;
};

// Targets for the corner boxes [n, 4] (pixels) of an image of the given size: normalised centre
// boxes are derived, and areas are the boxes' areas unless given.
Targets make_targets(const torch::Tensor& labels, const torch::Tensor& boxes_xyxy, int64_t height, int64_t width,
                     const torch::Tensor& areas = {});

}  // namespace genbox::detection
