// DETR-style set prediction (Carion et al. 2020): a CNN backbone and a transformer
// encoder-decoder predict a fixed set of (class, box) pairs, matched one-to-one to the objects by
// the Hungarian algorithm and trained with a set loss on every decoder layer. Data: synthetic
// scenes of Fashion-MNIST items, or any COCO-format detection set.
//
//   detr train [-c FILE.toml] [key=value ...] [--resume RUN_DIR]
//   detr sample RUN_DIR [--n N]   test images with ground truth (dashed) and predictions drawn
//   detr eval RUN_DIR             COCO mAP/mAR into eval.json, detections as COCO results JSON
//   detr bench                    train/inference images/s and the matcher's time, one JSON line
#include <fmt/format.h>

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "common/checkpoint.hpp"
#include "common/cli.hpp"
#include "common/config.hpp"
#include "common/data/batches.hpp"
#include "common/data/datasets.hpp"
#include "common/device.hpp"
#include "common/errors.hpp"
#include "common/fsutil.hpp"
#include "common/images.hpp"
#include "common/optim.hpp"
#include "common/program.hpp"
#include "common/progress.hpp"
#include "common/run.hpp"
#include "common/settings.hpp"
#include "common/signals.hpp"
#include "detection/coco_json.hpp"
#include "detection/coco_map.hpp"
#include "detection/criterion.hpp"
#include "detection/dataset.hpp"
#include "detection/draw.hpp"
#include "detection/model.hpp"
#include "detection/predictions.hpp"
#include "detection/scenes.hpp"

using namespace genbox;
using namespace genbox::detection;

// ----------------------------------------------------------------------------------------------
// Config: every key, its default, range and doc, in one place.

struct DetrConfig {
  RunSettings run;
  DeviceSettings device;
  struct {
    std::string source = "scenes";
    std::string root = kFashionMnistRoot;
    int64_t train_scenes = 10000;
    int64_t test_scenes = 500;
    int64_t test_seed = 1;
    int64_t height = 64, width = 64;
    int64_t min_height = 0, min_width = 0;
    int64_t min_objects = 1, max_objects = 4;
    double min_scale = 0.5, max_scale = 1.25;
    double max_overlap = 0.3;
    double noise = 0.0;
    std::string train_annotations = "annotations/instances_train2017.json";
    std::string train_images = "train2017";
    std::string val_annotations = "annotations/instances_val2017.json";
    std::string val_images = "val2017";
    int64_t max_size = 512;
    int64_t limit = 0;
  } data;
  struct {
    int64_t num_queries = 16;
    int64_t width = 64;
    int64_t heads = 4;
    int64_t encoder_layers = 2;
    int64_t decoder_layers = 3;
    int64_t ffn = 256;
    std::vector<int64_t> backbone_channels = {16, 32, 64};
    int64_t blocks_per_stage = 1;
    int64_t output_stride = 8;
    int64_t query_groups = 1;
  } model;
  struct {
    bool aux = true;
    bool focal = false;
    double focal_alpha = 0.25;
    double focal_gamma = 2.0;
    double ce_weight = 1, bbox_weight = 5, giou_weight = 2;
    double class_cost = 1, bbox_cost = 5, giou_cost = 2;
    double no_object_weight = 0.1;
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

Schema describe(DetrConfig& c) {
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
  s.add_choice("data.source", c.data.source, {"scenes", "coco"},
               "scenes: Fashion-MNIST items placed on a canvas; coco: a COCO-format set under data.root");
  s.add("data.root", c.data.root, "scenes: the Fashion-MNIST IDX directory; coco: the dataset directory");
  s.add("data.train_scenes", c.data.train_scenes, 1, 100000000, "training scenes (from the training images)");
  s.add("data.test_scenes", c.data.test_scenes, 1, 100000000, "test scenes (from the test images)");
  s.add("data.test_seed", c.data.test_seed, 0, 1000000000, "seed of the test scenes, fixed so that runs compare");
  s.add("data.height", c.data.height, 8, 4096, "scene height in pixels (the largest when sizes vary)");
  s.add("data.width", c.data.width, 8, 4096, "scene width in pixels (the largest when sizes vary)");
  s.add("data.min_height", c.data.min_height, 0, 4096, "when > 0, scene heights vary uniformly from this to data.height");
  s.add("data.min_width", c.data.min_width, 0, 4096, "when > 0, scene widths vary uniformly from this to data.width");
  s.add("data.min_objects", c.data.min_objects, 1, 1000, "fewest objects placed in a scene");
  s.add("data.max_objects", c.data.max_objects, 1, 1000, "most objects placed in a scene");
  s.add("data.min_scale", c.data.min_scale, 0.05, 20.0, "smallest resize factor of an item");
  s.add("data.max_scale", c.data.max_scale, 0.05, 20.0, "largest resize factor of an item");
  s.add("data.max_overlap", c.data.max_overlap, 0.0, 1.0, "largest IoU between two objects' boxes (1: no limit)");
  s.add("data.noise", c.data.noise, 0.0, 1.0, "background noise, uniform in [0, noise]");
  s.add("data.train_annotations", c.data.train_annotations, "coco: training annotation JSON, relative to data.root");
  s.add("data.train_images", c.data.train_images, "coco: training image directory, relative to data.root");
  s.add("data.val_annotations", c.data.val_annotations, "coco: validation annotation JSON, relative to data.root");
  s.add("data.val_images", c.data.val_images, "coco: validation image directory, relative to data.root");
  s.add("data.max_size", c.data.max_size, 0, 100000, "coco: images are shrunk to this longer side; 0: kept");
  s.add("data.limit", c.data.limit, 0, 100000000, "coco: only the first N images of each file; 0: all");
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
  return s;
}

// ----------------------------------------------------------------------------------------------
// Data: images stay uint8 at their own sizes; batches are zero-padded with a padding mask.

struct Data {
  DetectionDataset train, test;
  CocoCatalog test_catalog;  // the ids the COCO JSON files written by eval use
  int64_t num_classes = 0;
  int64_t channels = 0;
};

SceneOptions scene_options(const DetrConfig& c) {
  SceneOptions o;
  o.height = c.data.height;
  o.width = c.data.width;
  o.min_height = c.data.min_height;
  o.min_width = c.data.min_width;
  o.min_objects = c.data.min_objects;
  o.max_objects = c.data.max_objects;
  o.min_scale = c.data.min_scale;
  o.max_scale = c.data.max_scale;
  o.max_overlap = c.data.max_overlap;
  o.noise = c.data.noise;
  if (o.min_objects > o.max_objects)
    throw ConfigError(fmt::format("data.min_objects = {} exceeds data.max_objects = {}", o.min_objects, o.max_objects));
  if (o.min_scale > o.max_scale)
    throw ConfigError(fmt::format("data.min_scale = {} exceeds data.max_scale = {}", o.min_scale, o.max_scale));
  if (o.min_height > o.height || o.min_width > o.width)
    throw ConfigError("data.min_height and data.min_width must not exceed data.height and data.width");
  return o;
}

Data load_data(const DetrConfig& c, bool need_train) {
  Data data;
  if (c.data.source == "scenes") {
    SceneOptions options = scene_options(c);
    ImageDataset test = load_idx_dataset(c.data.root, "test");
    data.test = make_scenes(test.images, test.labels, c.data.test_scenes, options, static_cast<uint64_t>(c.data.test_seed));
    if (need_train) {
      ImageDataset train = load_idx_dataset(c.data.root, "train");
      data.train = make_scenes(train.images, train.labels, c.data.train_scenes, options, static_cast<uint64_t>(c.run.seed));
    }
    data.num_classes = test.labels.max().item<int64_t>() + 1;
    data.channels = test.images.size(1);
    data.test_catalog = index_catalog(data.test.size(), data.num_classes);
  } else {
    std::filesystem::path root = c.data.root;
    CocoReadOptions options;
    options.limit = c.data.limit;
    options.max_size = c.data.max_size;
    CocoDataset val = read_coco_detection(root / c.data.val_annotations, root / c.data.val_images, options);
    if (need_train) {
      CocoDataset train = read_coco_detection(root / c.data.train_annotations, root / c.data.train_images, options);
      if (train.catalog.category_ids != val.catalog.category_ids)
        throw DataError(fmt::format("{} and {} list different categories; the model needs one set of classes",
                                    (root / c.data.train_annotations).string(), (root / c.data.val_annotations).string()));
      data.train = std::move(train.data);
    }
    data.test = std::move(val.data);
    data.test_catalog = std::move(val.catalog);
    data.num_classes = static_cast<int64_t>(data.test_catalog.category_ids.size());
    data.channels = options.channels;
  }
  if (data.test.size() == 0 || (need_train && data.train.size() == 0))
    throw DataError(fmt::format("{}: no images to train or evaluate on", c.data.root));
  return data;
}

std::vector<int64_t> index_range(int64_t begin, int64_t end) {
  std::vector<int64_t> indices;
  for (int64_t i = begin; i < end; ++i) indices.push_back(i);
  return indices;
}

// ----------------------------------------------------------------------------------------------
// Model and loss.

DetrOptions detr_options(const DetrConfig& c, const Data& data) {
  DetrOptions o;
  o.num_classes = data.num_classes;
  o.num_queries = c.model.num_queries;
  o.width = c.model.width;
  o.heads = c.model.heads;
  o.encoder_layers = c.model.encoder_layers;
  o.decoder_layers = c.model.decoder_layers;
  o.ffn = c.model.ffn;
  o.backbone_channels = c.model.backbone_channels;
  o.blocks_per_stage = c.model.blocks_per_stage;
  o.output_stride = c.model.output_stride;
  o.image_channels = data.channels;
  o.query_groups = c.model.query_groups;
  // Focal loss starts every class probability at 0.01, or the many negatives swamp the first steps.
  o.class_prior = c.loss.focal ? 0.01 : 0.0;
  if (o.width % o.heads != 0)
    throw ConfigError(fmt::format("model.width = {} must be divisible by model.heads = {}", o.width, o.heads));
  if ((o.output_stride & (o.output_stride - 1)) != 0)
    throw ConfigError(fmt::format("model.output_stride = {} must be a power of two", o.output_stride));
  return o;
}

Detr build_model(const DetrConfig& c, const Data& data, torch::Device device) {
  Detr model(detr_options(c, data));
  model->to(device);
  return model;
}

SetCriterion make_criterion(const DetrConfig& c, int64_t num_classes, int64_t query_groups) {
  CriterionOptions o;
  o.num_classes = num_classes;
  o.ce_weight = c.loss.ce_weight;
  o.bbox_weight = c.loss.bbox_weight;
  o.giou_weight = c.loss.giou_weight;
  o.class_cost = c.loss.class_cost;
  o.bbox_cost = c.loss.bbox_cost;
  o.giou_cost = c.loss.giou_cost;
  o.no_object_weight = c.loss.no_object_weight;
  o.focal = c.loss.focal;
  o.focal_alpha = c.loss.focal_alpha;
  o.focal_gamma = c.loss.focal_gamma;
  o.query_groups = query_groups;
  return SetCriterion(o);
}

// The outputs the loss sees: every decoder layer's, or with loss.aux off the final layer's only.
DetrOutput loss_outputs(const DetrOutput& output, bool aux) {
  if (aux) return output;
  return DetrOutput{{output.final_logits()}, {output.final_boxes()}};
}

// ----------------------------------------------------------------------------------------------
// Evaluation: detections on the test set, COCO metrics, and the set loss of the inference
// queries (one group) for a second view of progress.

struct Evaluation {
  std::vector<Detections> detections;
  CocoMetrics metrics;
  double loss = 0;
};

Evaluation evaluate(Detr& model, const Data& data, const DetrConfig& c, torch::Device device) {
  torch::NoGradGuard no_grad;
  model->eval();
  SetCriterion criterion = make_criterion(c, data.num_classes, 1);
  Evaluation result;
  double loss_sum = 0;
  for (int64_t i = 0; i < data.test.size(); i += c.eval.batch_size) {
    int64_t end = std::min(i + c.eval.batch_size, data.test.size());
    DetectionBatch batch = collate(data.test, index_range(i, end), c.model.output_stride).to(device);
    DetrOutput output;
    {
      AutocastGuard autocast(c.device.precision, device);
      output = model->forward(batch.images, batch.padding_mask);
    }
    for (auto& t : output.logits) t = t.to(torch::kFloat32);
    for (auto& t : output.boxes) t = t.to(torch::kFloat32);
    loss_sum += criterion(loss_outputs(output, c.loss.aux), batch.targets).total.item<double>() * double(end - i);
    std::vector<Detections> d = decode_detections(output.final_logits(), output.final_boxes(), batch.sizes, c.loss.focal,
                                                  c.eval.max_detections);
    result.detections.insert(result.detections.end(), d.begin(), d.end());
  }
  model->train();
  result.metrics = evaluate_coco(result.detections, data.test.targets, data.num_classes);
  result.loss = loss_sum / double(data.test.size());
  return result;
}

nlohmann::json metrics_json(const CocoMetrics& metrics) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, value] : metrics.named()) j[name] = value;
  return j;
}

// ----------------------------------------------------------------------------------------------
// Pictures: test images enlarged, ground truth dashed, predictions above the threshold solid with
// their scores, tiled into one PNG.

void write_detection_sheet(const Data& data, const std::vector<Detections>& detections, int64_t count,
                           double threshold, int64_t scale, const std::filesystem::path& path) {
  count = std::min<int64_t>({count, data.test.size(), static_cast<int64_t>(detections.size())});
  std::vector<torch::Tensor> pictures;
  int64_t height = 0, width = 0;
  for (int64_t i = 0; i < count; ++i) {
    const Targets& truth = data.test.targets[i];
    torch::Tensor picture = to_rgb(data.test.images[i], scale);
    // Labels at twice the font size stay readable on images enlarged 4 times or more.
    const int64_t font_scale = std::max<int64_t>(1, scale / 2);
    BoxStyle dashed{double(scale), true, font_scale};
    picture = draw_boxes(picture, truth.boxes_xyxy, truth.labels, {}, dashed);
    torch::Tensor keep = detections[i].scores.ge(threshold);
    picture = draw_boxes(picture, detections[i].boxes.index({keep}), detections[i].labels.index({keep}),
                         detections[i].scores.index({keep}), BoxStyle{double(scale), false, font_scale});
    height = std::max(height, picture.size(1));
    width = std::max(width, picture.size(2));
    pictures.push_back(picture);
  }
  // Scenes of varying size are placed top-left on a black tile of the largest size.
  for (auto& p : pictures)
    p = torch::constant_pad_nd(p, {0, width - p.size(2), 0, height - p.size(1)}, 0.0);
  int64_t per_row = static_cast<int64_t>(std::ceil(std::sqrt(double(count))));
  write_png(path, make_grid(torch::stack(pictures), per_row));
}

// ----------------------------------------------------------------------------------------------

std::vector<int64_t> to_indices(const torch::Tensor& rows) {
  torch::Tensor r = rows.to(torch::kCPU).contiguous();
  return std::vector<int64_t>(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel());
}

int train(DetrConfig& c, const Schema& schema, const CommandLine& cli) {
  // Setup: device, seed, data and model first, so that a bad dataset or model shape is reported
  // before anything is written; then the run directory.
  torch::Device device = setup_device(c.device, c.run.seed);
  Data data = load_data(c, true);
  Detr model = build_model(c, data, device);
  const bool resuming = !cli.resume_dir.empty();
  Run run = resuming ? Run::open(cli.resume_dir) : Run::create(c.run.out_dir, "detr", c.run.name, schema.to_toml(true), cli.text);
  if (resuming) {
    write_file_atomic(run.dir() / "config.toml", schema.to_toml(true));
    run.mark_resumed(cli.text);
  }
  run.meta().update({{"torch_version", torch_version()}, {"device", device.str()},
                     {"threads", torch::get_num_threads()}, {"seed", c.run.seed}, {"precision", c.device.precision},
                     {"num_classes", data.num_classes}});
  run.write_meta();
  run.log(fmt::format("run {} | device {} | {} threads | {}", run.dir().string(), device.str(),
                      torch::get_num_threads(), c.device.precision));
  int64_t train_objects = 0;
  for (const auto& t : data.train.targets) train_objects += t.size();
  run.log(fmt::format("data {}: {} train images ({} objects), {} test images, {} classes", c.data.source,
                      data.train.size(), train_objects, data.test.size(), data.num_classes));

  // Optimizer, EMA, batches, checkpoints.
  auto optimizer = make_optimizer(*model, c.optim);
  std::unique_ptr<Ema> ema = c.optim.ema_decay > 0 ? std::make_unique<Ema>(*model, c.optim.ema_decay) : nullptr;
  BatchSampler sampler(data.train.size(), c.train.batch_size, static_cast<uint64_t>(c.run.seed));
  CheckpointKeeper checkpoints(run.checkpoints_dir(), c.train.keep_checkpoints);
  TrainingState state;
  if (resuming) {
    state = load_checkpoint(checkpoints.last(), *model, ema.get(), optimizer.get(), true);
    sampler.set_position(state.sampler_position);
    run.log(fmt::format("resumed at step {} from {}", state.step, checkpoints.last().string()));
  } else {
    run.log(fmt::format("model: {} parameters, {} queries x {} groups", parameter_count(*model), c.model.num_queries,
                        c.model.query_groups));
  }
  const SetCriterion criterion = make_criterion(c, data.num_classes, c.model.query_groups);

  // Training loop. best_metric holds -AP: checkpoints keep "lower is better".
  install_stop_handlers();
  const int64_t fault_step = nan_fault_step();
  const int64_t total = c.train.steps;
  auto due = [&](int64_t every, int64_t step) { return step == total || (every > 0 && step % every == 0); };
  Progress progress(state.step, total);
  std::vector<torch::Tensor> params = model->parameters();
  while (state.step < total) {
    DetectionBatch batch = collate(data.train, to_indices(sampler.next()), c.model.output_stride).to(device);
    double lr = learning_rate_at(c.optim, state.step, total);
    set_learning_rate(*optimizer, lr);
    optimizer->zero_grad();
    DetrOutput output;
    {
      AutocastGuard autocast(c.device.precision, device);
      output = model->forward(batch.images, batch.padding_mask);
    }
    for (auto& t : output.logits) t = t.to(torch::kFloat32);
    for (auto& t : output.boxes) t = t.to(torch::kFloat32);
    // Non-finite predictions already stop the matcher, which names the image.
    SetLosses losses;
    std::string failure;
    try {
      losses = criterion(loss_outputs(output, c.loss.aux), batch.targets);
    } catch (const std::invalid_argument& e) {
      failure = e.what();
    }
    torch::Tensor loss = failure.empty() ? losses.total : torch::full({}, std::numeric_limits<float>::quiet_NaN());
    if (state.step + 1 == fault_step) loss = loss * std::numeric_limits<float>::quiet_NaN();
    double loss_value = loss.item<double>();
    if (!std::isfinite(loss_value)) {
      progress.finish_line();
      run.log(fmt::format("non-finite loss ({}{}) at step {}; stopping. The last good checkpoint is {}", loss_value,
                          failure.empty() ? "" : ": " + failure, state.step + 1, checkpoints.last().string()));
      run.meta()["failure"] = fmt::format("non-finite loss at step {}", state.step + 1);
      run.set_status("failed", state.step);
      return kExitNonFinite;
    }
    loss.backward();
    double grad_norm = clip_grad_norm(params, c.optim.clip_grad_norm);
    optimizer->step();
    if (ema) ema->update(*model);
    state.step += 1;
    state.sampler_position = sampler.position();

    std::string summary = fmt::format("loss {:.4f}", loss_value);
    progress.update(state.step, summary);
    if (due(c.train.log_every, state.step)) {
      nlohmann::json values = {{"lr", lr}, {"grad_norm", grad_norm}};
      for (const auto& [name, value] : losses.named()) values[name] = value.item<double>();
      run.append_metrics(state.step, "train", values);
      run.log(progress.line(state.step, summary), !progress.interactive());
    }

    const bool evaluate_now = due(c.train.eval_every, state.step);
    const bool sample_now = due(c.train.sample_every, state.step);
    if (evaluate_now || sample_now) {
      if (ema) ema->swap_into(*model);
      Evaluation e = evaluate(model, data, c, device);
      if (ema) ema->swap_into(*model);
      if (sample_now)
        write_detection_sheet(data, e.detections, c.sample.images, c.sample.score_threshold, c.sample.scale,
                              run.samples_dir() / fmt::format("step_{:07d}.png", state.step));
      if (evaluate_now) {
        nlohmann::json values = metrics_json(e.metrics);
        values["val_loss"] = e.loss;
        run.append_metrics(state.step, "eval", values);
        bool improved = -e.metrics.ap < state.best_metric;
        if (improved) state.best_metric = -e.metrics.ap;
        checkpoints.save(*model, ema.get(), optimizer.get(), state);
        if (improved) checkpoints.mark_best();
        progress.finish_line();
        run.log(fmt::format("step {} | AP {:.4f} | AP50 {:.4f} | AP75 {:.4f} | AR@100 {:.4f} | val loss {:.4f}{}",
                            state.step, e.metrics.ap, e.metrics.ap50, e.metrics.ap75, e.metrics.ar100, e.loss,
                            improved ? " (best)" : ""));
      }
    }
    if (!evaluate_now && due(c.train.checkpoint_every, state.step))
      checkpoints.save(*model, ema.get(), optimizer.get(), state);
    run.meta()["step"] = state.step;

    if (int signal = stop_signal()) {
      progress.finish_line();
      if (!evaluate_now) checkpoints.save(*model, ema.get(), optimizer.get(), state);
      run.set_status("interrupted", state.step);
      run.log(fmt::format("interrupted by signal {} at step {}; resume with: detr train --resume {}", signal,
                          state.step, run.dir().string()));
      return signal == SIGINT ? kExitSigint : kExitSigterm;
    }
  }
  progress.finish_line();
  run.set_status("finished", state.step);
  run.log(fmt::format("finished {} steps in {} | best AP {:.4f} | pictures in {}", state.step,
                      format_duration(run.elapsed_seconds()), -state.best_metric, run.samples_dir().string()));
  return kExitOk;
}

// ----------------------------------------------------------------------------------------------
// Commands on an existing run.

struct LoadedRun {
  Run run;
  Data data;
  Detr model;
  torch::Device device;
};

LoadedRun load_run(const DetrConfig& c, const std::string& dir) {
  torch::Device device = setup_device(c.device, c.run.seed);
  Run run = Run::open(dir);
  Data data = load_data(c, false);
  Detr model = build_model(c, data, device);
  std::filesystem::path checkpoint = run.checkpoints_dir() / (c.sample.checkpoint + ".pt");
  if (!std::filesystem::exists(checkpoint)) checkpoint = run.checkpoints_dir() / "last.pt";
  bool ema = load_weights(checkpoint, *model, c.sample.use_ema);
  fmt::print("loaded {}{}\n", checkpoint.string(), ema ? " (EMA weights)" : "");
  return {std::move(run), std::move(data), std::move(model), device};
}

int sample(DetrConfig& c, const CommandLine& cli) {
  if (auto n = cli.integer_option("n")) c.sample.images = *n;
  if (c.sample.images < 1) throw UsageError("--n must be at least 1");
  LoadedRun r = load_run(c, cli.run_dir);
  torch::NoGradGuard no_grad;
  r.model->eval();
  int64_t count = std::min(c.sample.images, r.data.test.size());
  DetectionBatch batch = collate(r.data.test, index_range(0, count), c.model.output_stride).to(r.device);
  DetrOutput output = r.model->forward(batch.images, batch.padding_mask);
  std::vector<Detections> detections = decode_detections(output.final_logits().to(torch::kFloat32),
                                                         output.final_boxes().to(torch::kFloat32), batch.sizes,
                                                         c.loss.focal, c.eval.max_detections);
  std::filesystem::path path = r.run.samples_dir() / fmt::format("sample_{}.png", c.sample.checkpoint);
  write_detection_sheet(r.data, detections, count, c.sample.score_threshold, c.sample.scale, path);
  fmt::print("wrote {} ({} test images; ground truth dashed, predictions with score >= {} solid)\n", path.string(),
             count, c.sample.score_threshold);
  return kExitOk;
}

int eval(const DetrConfig& c, const CommandLine& cli) {
  LoadedRun r = load_run(c, cli.run_dir);
  Evaluation e = evaluate(r.model, r.data, c, r.device);
  // Both sides of the evaluation as COCO files, so that pycocotools can check the numbers.
  std::filesystem::path truth = r.run.dir() / "ground_truth_coco.json";
  std::filesystem::path results = r.run.dir() / fmt::format("detections_{}_coco.json", c.sample.checkpoint);
  write_coco_annotations(truth, r.data.test.targets, r.data.test_catalog);
  write_coco_results(results, e.detections, r.data.test_catalog.image_ids, r.data.test_catalog.category_ids);
  nlohmann::json summary = metrics_json(e.metrics);
  summary["val_loss"] = e.loss;
  summary["images"] = r.data.test.size();
  summary["source"] = c.data.source;
  summary["checkpoint"] = c.sample.checkpoint;
  summary["ground_truth_file"] = truth.filename().string();
  summary["detections_file"] = results.filename().string();
  r.run.write_eval(summary);
  fmt::print("{} test images | AP {:.4f} | AP50 {:.4f} | AP75 {:.4f} | AP small/medium/large {:.4f} {:.4f} {:.4f}\n",
             r.data.test.size(), e.metrics.ap, e.metrics.ap50, e.metrics.ap75, e.metrics.ap_small,
             e.metrics.ap_medium, e.metrics.ap_large);
  fmt::print("AR@1 {:.4f} | AR@10 {:.4f} | AR@100 {:.4f}\n", e.metrics.ar1, e.metrics.ar10, e.metrics.ar100);
  fmt::print("wrote {}, {} and {}\n", (r.run.dir() / "eval.json").string(), truth.filename().string(),
             results.filename().string());
  return kExitOk;
}

// ----------------------------------------------------------------------------------------------
// Bench: training and inference throughput on the configured data, and the matcher alone on the
// issue's reference problem: 64 images, 100 queries, 1..20 targets each.

int bench(DetrConfig& c, const CommandLine& cli) {
  torch::Device device = setup_device(c.device, c.run.seed);
  const int64_t steps = cli.integer_option("steps").value_or(10);
  c.data.train_scenes = std::min<int64_t>(c.data.train_scenes, std::max<int64_t>(steps + 1, 4) * c.train.batch_size);
  Data data = load_data(c, true);
  Detr model = build_model(c, data, device);
  auto optimizer = make_optimizer(*model, c.optim);
  const SetCriterion criterion = make_criterion(c, data.num_classes, c.model.query_groups);
  BatchSampler sampler(data.train.size(), c.train.batch_size, static_cast<uint64_t>(c.run.seed));
  auto seconds = [&](const std::function<void()>& work, int64_t repeats) { return timed_seconds(work, repeats, device); };
  auto train_step = [&] {
    DetectionBatch batch = collate(data.train, to_indices(sampler.next()), c.model.output_stride).to(device);
    optimizer->zero_grad();
    DetrOutput output;
    {
      AutocastGuard autocast(c.device.precision, device);
      output = model->forward(batch.images, batch.padding_mask);
    }
    for (auto& t : output.logits) t = t.to(torch::kFloat32);
    for (auto& t : output.boxes) t = t.to(torch::kFloat32);
    criterion(loss_outputs(output, c.loss.aux), batch.targets).total.backward();
    optimizer->step();
  };
  double train_seconds = seconds(train_step, steps);
  double train_images_per_s = double(steps * c.train.batch_size) / train_seconds;

  int64_t inference_batch = std::min(c.eval.batch_size, data.test.size());
  DetectionBatch test_batch = collate(data.test, index_range(0, inference_batch), c.model.output_stride).to(device);
  double inference_seconds = seconds([&] {
    torch::NoGradGuard no_grad;
    model->eval();
    DetrOutput output = model->forward(test_batch.images, test_batch.padding_mask);
    decode_detections(output.final_logits().to(torch::kFloat32), output.final_boxes().to(torch::kFloat32),
                      test_batch.sizes, c.loss.focal, c.eval.max_detections);
    model->train();
  }, std::max<int64_t>(steps / 2, 2));
  double inference_images_per_s = double(std::max<int64_t>(steps / 2, 2) * inference_batch) / inference_seconds;

  // The matcher on random predictions against 1..20 random targets per image.
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(c.run.seed + 3);
  const int64_t images = 64, queries = 100, classes = data.num_classes;
  torch::Tensor logits = at::randn({images, queries, classes + 1}, generator).to(device);
  torch::Tensor boxes = at::rand({images, queries, 4}, generator).mul(0.5).add(0.25).to(device);
  std::vector<Targets> targets;
  int64_t target_count = 0;
  for (int64_t i = 0; i < images; ++i) {
    int64_t n = at::randint(1, 21, {1}, generator).item<int64_t>();
    torch::Tensor xy = at::rand({n, 2}, generator).mul(48);
    torch::Tensor wh = at::rand({n, 2}, generator).mul(14).add(2);
    targets.push_back(make_targets(at::randint(0, classes, {n}, generator), torch::cat({xy, xy + wh}, 1), 64, 64).to(device));
    target_count += n;
  }
  const int64_t match_repeats = 20;
  double match_seconds = seconds([&] { criterion.matcher()(logits, boxes, targets); }, match_repeats) / match_repeats;

  nlohmann::json result = {{"experiment", "detr"},
                           {"device", device.str()},
                           {"threads", torch::get_num_threads()},
                           {"precision", c.device.precision},
                           {"parameters", parameter_count(*model)},
                           {"image_size", fmt::format("{}x{}", c.data.height, c.data.width)},
                           {"batch_size", c.train.batch_size},
                           {"queries", c.model.num_queries * c.model.query_groups},
                           {"train_images_per_s", train_images_per_s},
                           {"inference_images_per_s", inference_images_per_s},
                           {"matcher_ms_64x100", match_seconds * 1000},
                           {"matcher_targets", target_count}};
  fmt::print("{}\n", result.dump());
  return kExitOk;
}

int main(int argc, char** argv) {
  const std::vector<CommandSpec> commands = {
      {"train", false, {}, "train DETR (built-in defaults: a few CPU minutes on Fashion-MNIST scenes)"},
      {"sample", true, {"n"}, "draw ground truth and predictions on test images into RUN_DIR/samples/"},
      {"eval", true, {}, "COCO mAP/mAR into RUN_DIR/eval.json, detections as COCO results JSON"},
      {"bench", false, {"steps"}, "train and inference images/s and the matcher's time, one JSON line"},
  };
  DetrConfig config;
  Schema schema = describe(config);
  return run_program(argc, argv, "detr", commands, schema, [&](const CommandLine& cli) {
    if (cli.command == "train") return train(config, schema, cli);
    if (cli.command == "sample") return sample(config, cli);
    if (cli.command == "eval") return eval(config, cli);
    return bench(config, cli);
  });
}
