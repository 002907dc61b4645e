// Synthetic detection scenes: items of a classification set (Fashion-MNIST: the class is the
// label) scaled and placed on a dark canvas, with boxes from each item's non-zero pixels. Every
// scene is a function of (seed, index) alone, so a set is reproducible and any scene can be
// regenerated without the others.
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "detection/dataset.hpp"

namespace genbox::detection {

struct SceneOptions {
  int64_t height = 64, width = 64;        // canvas size; the largest when sizes vary
  int64_t min_height = 0, min_width = 0;  // when > 0, each scene's size is uniform in [min, max]
  int64_t min_objects = 1, max_objects = 4;
  // An item's non-zero part is resized by a factor uniform in [min_scale, max_scale] (shrunk
  // further if it would not fit the canvas).
  double min_scale = 0.5, max_scale = 1.25;
  // The largest IoU allowed between two objects' boxes; an object that finds no such place in
  // placement_attempts tries is left out (the first always fits). 1 means no limit.
  double max_overlap = 0.3;
  int64_t placement_attempts = 30;
  // Background pixels uniform in [0, noise] (of full scale 1); items are drawn over it.
  double noise = 0.0;
};

struct Scene {
  torch::Tensor image;  // [C, h, w] uint8
  Targets targets;
};

// Scene `index` of the stream `seed`. source_images is [N, C, H, W] or [N, H, W] uint8 with
// labels [N]; items are drawn uniformly from it. Where items overlap, the later one is combined
// with the earlier by the pixel-wise maximum; each box still covers its own item's pixels.
Scene make_scene(const torch::Tensor& source_images, const torch::Tensor& source_labels, const SceneOptions& options,
                 uint64_t seed, int64_t index);

// Scenes 0 .. count-1 of the stream `seed`.
DetectionDataset make_scenes(const torch::Tensor& source_images, const torch::Tensor& source_labels, int64_t count,
                             const SceneOptions& options, uint64_t seed);

}  // namespace genbox::detection
