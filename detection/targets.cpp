#include "detection/targets.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <torch/torch.h>

#include <stdexcept>

#include "detection/box_ops.hpp"

namespace genbox::detection {

Targets Targets::to(const torch::Device& device) const {
  Targets moved = *this;
  moved.labels = labels.to(device);
  moved.boxes = boxes.to(device);
  moved.boxes_xyxy = boxes_xyxy.to(device);
  moved.areas = areas.to(device);
  if (crowds.size() > 0)
    moved.crowds = {crowds.labels.to(device), crowds.boxes_xyxy.to(device), crowds.areas.to(device)};
  return moved;
}

namespace {
void check_boxes(const torch::Tensor& labels, const torch::Tensor& boxes_xyxy, const char* what) {
  if (labels.dim() != 1 || boxes_xyxy.dim() != 2 || boxes_xyxy.size(1) != 4 || boxes_xyxy.size(0) != labels.size(0))
    throw std::invalid_argument(fmt::format("{} need labels [n] and boxes [n, 4], got {} and {}", what,
                                            fmt::join(labels.sizes(), "x"), fmt::join(boxes_xyxy.sizes(), "x")));
}
}  // namespace

Targets make_targets(const torch::Tensor& labels, const torch::Tensor& boxes_xyxy, int64_t height, int64_t width,
                     const torch::Tensor& areas) {
  check_boxes(labels, boxes_xyxy, "targets");
  if (height <= 0 || width <= 0)
    throw std::invalid_argument(fmt::format("targets need a positive image size, got {} x {}", height, width));
  Targets t;
  t.labels = labels.to(torch::kLong);
  t.boxes_xyxy = boxes_xyxy.to(torch::kFloat);
  torch::Tensor size = torch::tensor(
      {static_cast<float>(width), static_cast<float>(height), static_cast<float>(width), static_cast<float>(height)},
      t.boxes_xyxy.options());
  t.boxes = xyxy_to_cxcywh(t.boxes_xyxy / size);
  t.areas = areas.defined() ? areas.to(torch::kFloat) : box_area(t.boxes_xyxy);
  t.height = height;
  t.width = width;
  return t;
}

CrowdRegions make_crowds(const torch::Tensor& labels, const torch::Tensor& boxes_xyxy, const torch::Tensor& areas) {
  check_boxes(labels, boxes_xyxy, "crowd regions");
  CrowdRegions c;
  c.labels = labels.to(torch::kLong);
  c.boxes_xyxy = boxes_xyxy.to(torch::kFloat);
  c.areas = areas.defined() ? areas.to(torch::kFloat) : box_area(c.boxes_xyxy);
  return c;
}

PaddedTargets pad_targets(const std::vector<Targets>& targets, const torch::Device& device) {
  PaddedTargets padded;
  for (const Targets& t : targets) padded.most = std::max(padded.most, t.size());
  const int64_t batch = static_cast<int64_t>(targets.size()), most = padded.most;
  padded.labels = torch::zeros({batch, most}, torch::kLong);
  padded.boxes = torch::full({batch, most, 4}, 0.5f);
  int64_t* label_data = padded.labels.data_ptr<int64_t>();
  float* box_data = padded.boxes.data_ptr<float>();
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t n = targets[b].size();
    if (n == 0) continue;
    torch::Tensor l = targets[b].labels.to(torch::kCPU, torch::kLong).contiguous();
    torch::Tensor x = targets[b].boxes.to(torch::kCPU, torch::kFloat).contiguous();
    std::copy(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + n, label_data + b * most);
    std::copy(x.data_ptr<float>(), x.data_ptr<float>() + 4 * n, box_data + b * most * 4);
  }
  padded.labels = padded.labels.to(device);
  padded.boxes = padded.boxes.to(device);
  return padded;
}

}  // namespace genbox::detection
