// Boxes drawn onto images for inspection: a rectangle per object in a colour per class, with a
// label of the class name (or index) and, for predictions, the score in a tiny built-in 3 x 5
// font of digits, capital letters and a few signs.
#pragma once

#include <torch/types.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "detection/dataset.hpp"
#include "detection/predictions.hpp"

namespace genbox::detection {

struct BoxStyle {
  double coordinate_scale = 1;  // box coordinates are multiplied by this (for an enlarged image)
  bool dashed = false;          // e.g. ground truth dashed, predictions solid
  int64_t font_scale = 1;       // each font pixel becomes font_scale x font_scale pixels
  // Class k is labelled class_names[k] (letters in capitals), or k where the list ends.
  std::vector<std::string> class_names;
};

// A distinct colour per class index, RGB in [0, 1]: ten fixed ones, then hues spread by the
// golden ratio.
std::array<float, 3> class_color(int64_t label);

// [C, H, W] (C = 1 or 3; uint8, or float in [0, 1]) -> [3, H * factor, W * factor] float RGB,
// each pixel repeated factor x factor times, ready for drawing and write_png.
torch::Tensor to_rgb(const torch::Tensor& image, int64_t factor = 1);

// A copy of rgb [3, H, W] with one rectangle per box. boxes: [n, 4] (x1, y1, x2, y2) in pixels
// with x2, y2 the far edges; labels [n]; scores [n] or undefined. Each box is labelled with its
// class ("BAG", or "k" without a name) and any score ("BAG .87") above its top-left corner
// (inside it when there is no room), on a patch of its colour. Characters the font lacks are left
// blank. Parts outside the image are clipped.
torch::Tensor draw_boxes(const torch::Tensor& rgb, const torch::Tensor& boxes, const torch::Tensor& labels,
                         const torch::Tensor& scores = {}, const BoxStyle& style = {});

// The first `count` images of `data` enlarged `scale` times, ground truth dashed and detections
// (in the images' pixels) scoring at least `threshold` solid with their scores, labelled by
// class_names, tiled into one PNG at `path`.
void write_detection_sheet(const DetectionDataset& data, const std::vector<Detections>& detections,
                           const std::vector<std::string>& class_names, int64_t count, double threshold, int64_t scale,
                           const std::filesystem::path& path);

}  // namespace genbox::detection
