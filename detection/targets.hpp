// The ground truth of one image, as every data source (synthetic scenes, COCO JSON) yields it and
// the matcher, the criterion and the evaluation read it. COCO's crowd regions (iscrowd 1) ride
// along apart from the objects, so that training never sees them and the evaluation can.
#pragma once

#include <torch/types.h>

#include <vector>

#include <cstdint>

namespace genbox::detection {

// Crowd regions: one box over many objects of a class (COCO's iscrowd 1). COCOeval treats them
// as ground truth to ignore: a detection on one is neither a hit nor a false positive.
struct CrowdRegions {
  torch::Tensor labels;      // [c] int64 class ids
  torch::Tensor boxes_xyxy;  // [c, 4] float (x1, y1, x2, y2) in pixels of the image's own size
  torch::Tensor areas;       // [c] float areas in pixels (the annotation's), for the area ranges

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

struct Targets {
  torch::Tensor labels;           // [n] int64, contiguous class ids in [0, num_classes)
  torch::Tensor boxes;            // [n, 4] float (cx, cy, w, h) divided by the image's own width and height
  torch::Tensor boxes_xyxy;       // [n, 4] float (x1, y1, x2, y2) in pixels of the image's own size
  torch::Tensor areas;            // [n] float object areas in pixels, for COCO's small/medium/large split
  int64_t height = 0, width = 0;  // the image's own size, without batch padding
  // Read by the evaluation only: the matcher and the set loss see the objects above.
  CrowdRegions crowds;

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  // The same targets with every tensor on `device`.
  Targets to(const torch::Device& device) const;
};

// A batch's targets padded to its most, for batched work on the device: image b's target t is
// labels[b][t], boxes[b][t] (cx, cy, w, h); padding rows hold label 0 and a valid box at the centre.
struct PaddedTargets {
  torch::Tensor labels;  // [B, most] int64
  torch::Tensor boxes;   // [B, most, 4] float
  int64_t most = 0;
};
// Built on the host from plain arrays, then moved to `device` in one copy each.
PaddedTargets pad_targets(const std::vector<Targets>& targets, const torch::Device& device);

// Targets for the corner boxes [n, 4] (pixels) of an image of the given size: normalised centre
// boxes are derived, and areas are the boxes' areas unless given.
Targets make_targets(const torch::Tensor& labels, const torch::Tensor& boxes_xyxy, int64_t height, int64_t width,
                     const torch::Tensor& areas = {});

// Crowd regions for the corner boxes [c, 4] (pixels); areas are the boxes' areas unless given.
CrowdRegions make_crowds(const torch::Tensor& labels, const torch::Tensor& boxes_xyxy, const torch::Tensor& areas = {});

}  // namespace genbox::detection
