// Axis-aligned boxes as [..., 4] tensors, either centre form (cx, cy, w, h) or corner form
// (x1, y1, x2, y2), and the overlap measures DETR's matching and loss are built from.
#pragma once

#include <torch/types.h>

namespace genbox::detection {

torch::Tensor cxcywh_to_xyxy(const torch::Tensor& boxes);
torch::Tensor xyxy_to_cxcywh(const torch::Tensor& boxes);

// (x2 - x1) * (y2 - y1) of [..., 4] corner boxes.
torch::Tensor box_area(const torch::Tensor& boxes);

// Intersection over union of every pair of corner boxes [N, 4] x [M, 4] -> [N, M]. A pair whose
// union is empty (two zero-area boxes) gets 0 rather than 0/0.
torch::Tensor box_iou(const torch::Tensor& a, const torch::Tensor& b);

// Generalized IoU (Rezatofighi et al. 2019) of every pair: IoU - (C - U) / C with C the area of
// the smallest box enclosing both and U their union; in [-1, 1], 1 only for identical boxes and
// negative for disjoint ones. [N, 4] x [M, 4] -> [N, M]. Throws std::invalid_argument naming the
// first box with x2 < x1 or y2 < y1 and its coordinates; NaN coordinates pass through as NaN so
// that callers can report them with more context.
torch::Tensor generalized_box_iou(const torch::Tensor& a, const torch::Tensor& b);
// The same per batch element: [B, N, 4] x [B, M, 4] -> [B, N, M], with one degenerate-box check
// (one host sync) for the whole batch.
torch::Tensor generalized_box_iou_batched(const torch::Tensor& a, const torch::Tensor& b);

// Generalized IoU of aligned pairs [N, 4] x [N, 4] -> [N]: the diagonal of the pairwise matrix
// without building it. Rejects degenerate boxes the same way.
torch::Tensor generalized_box_iou_aligned(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace genbox::detection
