// `detr`'s config: every key, its default, range and doc, in one place. The description
// drives parsing, validation, --print-config and the README's key table; defaults live in the
// library option structs the sections bind, or here for the program's own keys.
#pragma once

#include <fmt/format.h>

#include "base/config.hpp"
#include "base/settings.hpp"
#include "common/data/datasets.hpp"
#include "common/distributed.hpp"
#include "detection/coco_json.hpp"
#include "detection/criterion.hpp"
#include "detection/model.hpp"
#include "detection/scenes.hpp"

namespace genbox {

struct DetrConfig {
  RunSettings run;
  DeviceSettings device;
  DistributedSettings distributed;
  struct {
    std::string source = "scenes";
    std::string root = kFashionMnistRoot;
    int64_t train_scenes = 10000;
    int64_t test_scenes = 500;
    int64_t test_seed = 1;
    detection::SceneOptions scenes;
    std::string train_annotations = "annotations/instances_train2017.json";
    std::string train_images = "train2017";
    std::string val_annotations = "annotations/instances_val2017.json";
    std::string val_images = "val2017";
    detection::CocoReadOptions coco;
  } data;
  detection::DetrOptions model;           // num_classes and image_channels come from the data
  struct : detection::CriterionOptions {  // num_classes and query_groups come from data and model
    bool aux = true;
  } loss;
  TrainSettings train;
  OptimSettings optim;
  struct {
    int64_t images = 16;
    double score_threshold = 0.3;
    int64_t scale = 4;
    bool use_ema = true;
    std::string checkpoint = "best";
  } sample;
  struct {
    int64_t batch_size = 50;
    int64_t max_detections = 100;
  } eval;
};

inline Schema describe(DetrConfig& c) {
  c.run.name = "detr";
  c.train.steps = 2000;
  c.train.batch_size = 32;
  c.train.log_every = 50;
  c.train.eval_every = 500;
  c.train.sample_every = 500;
  c.train.checkpoint_every = 500;
  c.optim.name = "adamw";
  c.optim.lr = 2e-3;
  c.optim.weight_decay = 1e-4;
  c.optim.warmup_steps = 200;
  c.optim.schedule = "cosine";
  c.optim.min_lr_ratio = 0.05;
  c.optim.clip_grad_norm = 0.1;

  Schema s;
  describe(s, c.run);
  describe(s, c.device);
  describe(s, c.distributed);
  s.add_choice("data.source", c.data.source, {"scenes", "coco"},
               "scenes: Fashion-MNIST items placed on a canvas; coco: a COCO-format set under data.root");
  s.add("data.root", c.data.root, "scenes: the Fashion-MNIST IDX directory; coco: the dataset directory");
  s.add("data.train_scenes", c.data.train_scenes, 1, 100000000, "training scenes (from the training images)");
  s.add("data.test_scenes", c.data.test_scenes, 1, 100000000, "test scenes (from the test images)");
  s.add("data.test_seed", c.data.test_seed, 0, 1000000000, "seed of the test scenes, fixed so that runs compare");
  s.add("data.height", c.data.scenes.height, 8, 4096, "scene height in pixels (the largest when sizes vary)");
  s.add("data.width", c.data.scenes.width, 8, 4096, "scene width in pixels (the largest when sizes vary)");
  s.add("data.min_height", c.data.scenes.min_height, 0, 4096,
        "when > 0, scene heights vary uniformly from this to data.height");
  s.add("data.min_width", c.data.scenes.min_width, 0, 4096,
        "when > 0, scene widths vary uniformly from this to data.width");
  s.add("data.min_objects", c.data.scenes.min_objects, 1, 1000, "fewest objects placed in a scene");
  s.add("data.max_objects", c.data.scenes.max_objects, 1, 1000, "most objects placed in a scene");
  s.add("data.min_scale", c.data.scenes.min_scale, 0.05, 20.0, "smallest resize factor of an item");
  s.add("data.max_scale", c.data.scenes.max_scale, 0.05, 20.0, "largest resize factor of an item");
  s.add("data.max_overlap", c.data.scenes.max_overlap, 0.0, 1.0,
        "largest IoU between two objects' boxes (1: no limit)");
  s.add("data.noise", c.data.scenes.noise, 0.0, 1.0, "background noise, uniform in [0, noise]");
  s.add("data.train_annotations", c.data.train_annotations, "coco: training annotation JSON, relative to data.root");
  s.add("data.train_images", c.data.train_images, "coco: training image directory, relative to data.root");
  s.add("data.val_annotations", c.data.val_annotations, "coco: validation annotation JSON, relative to data.root");
  s.add("data.val_images", c.data.val_images, "coco: validation image directory, relative to data.root");
  s.add("data.max_size", c.data.coco.max_size, 0, 100000, "coco: images are shrunk to this longer side; 0: kept");
  s.add("data.limit", c.data.coco.limit, 0, 100000000, "coco: only the first N images of each file; 0: all");
  s.add("model.num_queries", c.model.num_queries, 1, 10000, "object queries: the most objects an image can have");
  s.add("model.width", c.model.width, 8, 65536, "transformer width");
  s.add("model.heads", c.model.heads, 1, 1024, "attention heads");
  s.add("model.encoder_layers", c.model.encoder_layers, 0, 1024, "transformer encoder layers");
  s.add("model.decoder_layers", c.model.decoder_layers, 1, 1024, "transformer decoder layers");
  s.add("model.ffn", c.model.ffn, 1, 1000000, "hidden width of the transformer MLPs");
  s.add("model.backbone_channels", c.model.backbone_channels, 1, 65536, "channels of the ResNet stages");
  s.add("model.blocks_per_stage", c.model.blocks_per_stage, 1, 64, "residual blocks per backbone stage");
  s.add("model.output_stride", c.model.output_stride, 1, 1024, "backbone downsampling, a power of two");
  s.add("model.query_groups", c.model.query_groups, 1, 64,
        "Group DETR: query groups trained one-to-many (1: plain DETR); inference uses one group");
  s.add("loss.aux", c.loss.aux, "losses on every decoder layer's predictions, not only the last");
  s.add("loss.focal", c.loss.focal, "sigmoid focal loss and focal matching cost instead of cross-entropy");
  s.add("loss.focal_alpha", c.loss.focal_alpha, 0.0, 1.0, "focal loss alpha");
  s.add("loss.focal_gamma", c.loss.focal_gamma, 0.0, 10.0, "focal loss gamma");
  s.add("loss.ce_weight", c.loss.ce_weight, 0.0, 1000.0, "weight of the classification loss");
  s.add("loss.bbox_weight", c.loss.bbox_weight, 0.0, 1000.0, "weight of the L1 box loss");
  s.add("loss.giou_weight", c.loss.giou_weight, 0.0, 1000.0, "weight of the GIoU loss");
  s.add("loss.class_cost", c.loss.class_cost, 0.0, 1000.0, "matching cost weight of -p(class)");
  s.add("loss.bbox_cost", c.loss.bbox_cost, 0.0, 1000.0, "matching cost weight of the L1 box distance");
  s.add("loss.giou_cost", c.loss.giou_cost, 0.0, 1000.0, "matching cost weight of -GIoU");
  s.add("loss.no_object_weight", c.loss.no_object_weight, 0.0, 1.0, "cross-entropy weight of the no-object class");
  describe(s, c.train);
  describe(s, c.optim);
  s.add("sample.images", c.sample.images, 1, 10000, "test images drawn by sample and during training");
  s.add("sample.score_threshold", c.sample.score_threshold, 0.0, 1.0, "predictions drawn above this score");
  s.add("sample.scale", c.sample.scale, 1, 32, "drawn images are enlarged this many times");
  s.add("sample.use_ema", c.sample.use_ema, "sample and evaluate with EMA weights when there are some");
  s.add_choice("sample.checkpoint", c.sample.checkpoint, {"best", "last"}, "checkpoint read by sample and eval");
  s.add("eval.batch_size", c.eval.batch_size, 1, 100000, "images per forward pass in evaluation");
  s.add("eval.max_detections", c.eval.max_detections, 1, 100000, "detections kept per image (COCO counts 100)");
  s.add_check([&c] {
    const detection::SceneOptions& o = c.data.scenes;
    if (o.min_objects > o.max_objects)
      throw ConfigError(
          fmt::format("data.min_objects = {} exceeds data.max_objects = {}", o.min_objects, o.max_objects));
    if (o.min_scale > o.max_scale)
      throw ConfigError(fmt::format("data.min_scale = {} exceeds data.max_scale = {}", o.min_scale, o.max_scale));
    if (o.min_height > o.height || o.min_width > o.width)
      throw ConfigError("data.min_height and data.min_width must not exceed data.height and data.width");
    if (c.model.backbone_channels.empty())
      throw ConfigError("model.backbone_channels = [] must name at least one stage's channels");
    if (c.model.width % c.model.heads != 0)
      throw ConfigError(
          fmt::format("model.width = {} must be divisible by model.heads = {}", c.model.width, c.model.heads));
    if ((c.model.output_stride & (c.model.output_stride - 1)) != 0)
      throw ConfigError(fmt::format("model.output_stride = {} must be a power of two", c.model.output_stride));
  });
  return s;
}

}  // namespace genbox
