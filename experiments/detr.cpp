// DETR-style set prediction (Carion et al. 2020): a CNN backbone and a transformer
// encoder-decoder predict a fixed set of (class, box) pairs, matched one-to-one to the objects by
// the Hungarian algorithm and trained with a set loss on every decoder layer. Data: synthetic
// scenes of Fashion-MNIST items, or any COCO-format detection set.
//
//   detr train [-c FILE.toml] [key=value ...] [--resume RUN_DIR]
//   detr sample RUN_DIR [--n N]   test images with ground truth (dashed) and predictions drawn
//   detr eval RUN_DIR             COCO mAP/mAR and AP per category into eval.json, both sides as COCO JSON
//   detr bench                    train/inference images/s and the matcher's time, one JSON line
#include <fmt/format.h>

#include <torch/torch.h>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "base/errors.hpp"
#include "common/device.hpp"
#include "common/program.hpp"
#include "common/training.hpp"
#include "common/weights_export.hpp"
#include "detection/backbone.hpp"
#include "detection/coco_json.hpp"
#include "detection/coco_map.hpp"
#include "detection/criterion.hpp"
#include "detection/dataset.hpp"
#include "detection/draw.hpp"
#include "detection/evaluation.hpp"
#include "detection/matcher_bench.hpp"
#include "detection/model.hpp"
#include "detection/predictions.hpp"
#include "detection/scenes.hpp"
#include "experiments/detr_config.hpp"
#include "nn/attention.hpp"

using namespace genbox;
using namespace genbox::detection;

// ----------------------------------------------------------------------------------------------
// Data: images stay uint8 at their own sizes; batches are zero-padded with a padding mask.

struct Data {
  DetectionDataset train, test;
  // The test set's ground truth in its file's pixels (before data.max_size), crowd regions
  // included: what evaluation scores and exports. For scenes, test.targets themselves.
  std::vector<Targets> test_truth;
  CocoCatalog test_catalog;  // the ids and class names the COCO JSON files written by eval use
  int64_t num_classes = 0;
  int64_t channels = 0;
};

// The scenes' items are Fashion-MNIST's, labelled as its documentation names them.
const std::vector<std::string> kFashionMnistClasses = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                       "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

Data load_data(const DetrConfig& c, bool need_train) {
  Data data;
  if (c.data.source == "scenes") {
    const SceneOptions& o = c.data.scenes;
    ImageDataset test = load_idx_dataset(c.data.root, "test");
    data.test = make_scenes(test.images, test.labels, c.data.test_scenes, o, static_cast<uint64_t>(c.data.test_seed));
    if (need_train) {
      ImageDataset train = load_idx_dataset(c.data.root, "train");
      data.train = make_scenes(train.images, train.labels, c.data.train_scenes, o, static_cast<uint64_t>(c.run.seed));
    }
    data.num_classes = test.labels.max().item<int64_t>() + 1;
    data.channels = test.images.size(1);
    data.test_truth = data.test.targets;
    data.test_catalog = index_catalog(data.test.size(), data.num_classes, kFashionMnistClasses);
  } else {
    std::filesystem::path root = c.data.root;
    CocoDataset val = read_coco_detection(root / c.data.val_annotations, root / c.data.val_images, c.data.coco);
    if (need_train) {
      CocoDataset train = read_coco_detection(root / c.data.train_annotations, root / c.data.train_images, c.data.coco);
      if (train.catalog.category_ids != val.catalog.category_ids)
        throw DataError(fmt::format("{} and {} list different categories; the model needs one set of classes",
                                    (root / c.data.train_annotations).string(),
                                    (root / c.data.val_annotations).string()));
      data.train = std::move(train.data);
    }
    data.test = std::move(val.data);
    data.test_truth = std::move(val.truth);
    data.test_catalog = std::move(val.catalog);
    data.num_classes = static_cast<int64_t>(data.test_catalog.category_ids.size());
    data.channels = c.data.coco.channels;
  }
  if (data.test.size() == 0 || (need_train && data.train.size() == 0))
    throw DataError(fmt::format("{}: no images to train or evaluate on", c.data.root));
  return data;
}

// ----------------------------------------------------------------------------------------------
// Model and loss.

Detr build_model(const DetrConfig& c, const Data& data, torch::Device device) {
  DetrOptions o = c.model;
  o.num_classes = data.num_classes;
  o.image_channels = data.channels;
  // Focal loss starts every class probability at 0.01, or the many negatives swamp the first steps.
  o.class_prior = c.loss.focal ? 0.01 : 0.0;
  Detr model(o);
  model->to(device);
  return model;
}

SetCriterion make_criterion(const DetrConfig& c, int64_t num_classes, int64_t query_groups) {
  CriterionOptions o = c.loss;
  o.num_classes = num_classes;
  o.query_groups = query_groups;
  return SetCriterion(o);
}

// Under data parallelism, the backbone's batch statistics are the global batch's, so that a run
// does not depend on how many processes share the batch.
void synchronize(Detr& model, World& world) {
  if (world.distributed())
    synchronize_batch_norm(*model, [&](const torch::Tensor& t) { return world.sum_with_gradient(t); });
}

// Evaluation on the test set, with the set loss of the inference queries (one group).
Evaluation evaluate(Detr& model, const Data& data, const DetrConfig& c, torch::Device device) {
  EvaluationOptions o{c.eval.batch_size, c.model.output_stride, c.device.precision,
                      c.loss.focal,      c.eval.max_detections, c.loss.aux};
  return evaluate_detr(model, make_criterion(c, data.num_classes, 1), data.test, data.test_truth, data.num_classes, o,
                       device);
}

// ----------------------------------------------------------------------------------------------

// The set loss of this rank's slice of a global batch: its normalisers (box count, weight total)
// are the whole batch's divided by the world size, so the loss is this rank's share of it. The
// ranks first agree that all predictions are finite: the matcher stops on non-finite ones, and
// a rank stopping there alone would leave the others waiting in the loss's collectives.
SetLosses step_losses(Detr& model, const SetCriterion& criterion, const DetectionBatch& batch, const DetrConfig& c,
                      World& world) {
  DetrOutput output = forward_in_precision(model, batch.images, batch.padding_mask, c.device.precision);
  SetCriterion::Share share;
  if (world.distributed()) {
    if (world.sum({output.finite() ? 0.0 : 1.0})[0] > 0)
      throw std::invalid_argument("non-finite predictions on some rank");
    share = [&](double local) { return world.sum({local})[0] / double(world.size()); };
  }
  return criterion(output.for_loss(c.loss.aux), batch.targets, share);
}

int train(DetrConfig& c, const Schema& schema, const CommandLine& cli) {
  // Setup: device, processes, data and model first, so that a bad dataset or model shape is
  // reported before anything is written.
  torch::Device device = setup_device(c.device, c.run.seed);
  World world = join_world(c.distributed, device);
  world.local_batch(c.train.batch_size, "train.batch_size");
  Data data = load_data(c, true);
  Detr model = build_model(c, data, device);
  synchronize(model, world);
  auto optimizer = make_optimizer(*model, c.optim);
  std::unique_ptr<Ema> ema = c.optim.ema_decay > 0 ? std::make_unique<Ema>(*model, c.optim.ema_decay) : nullptr;
  BatchSampler sampler(data.train.size(), c.train.batch_size, static_cast<uint64_t>(c.run.seed));
  const SetCriterion criterion = make_criterion(c, data.num_classes, c.model.query_groups);

  nlohmann::json meta = {{"precision", c.device.precision}, {"num_classes", data.num_classes}};
  TrainingRun t(run_spec("detr", schema, cli, c, device, meta), world, *model, *optimizer, ema.get(), sampler);
  int64_t train_objects = 0;
  for (const auto& target : data.train.targets) train_objects += target.size();
  t.log(fmt::format("data {}: {} train images ({} objects), {} test, {} classes | {} parameters | {}", c.data.source,
                    data.train.size(), train_objects, data.test.size(), data.num_classes, parameter_count(*model),
                    c.device.precision));
  // Evaluation also draws the picture sheet, so it runs at eval and at sample steps.
  auto evaluate_and_draw = [&](bool draw) {
    Evaluation e;
    if (!t.evaluates()) return e;
    EmaWeights averaged(t);
    e = evaluate(model, data, c, device);
    if (draw)
      write_detection_sheet(data.test, e.drawn, data.test_catalog.category_names, c.sample.images,
                            c.sample.score_threshold, c.sample.scale,
                            t.samples_dir() / fmt::format("step_{:07d}.png", t.step()));
    return e;
  };
  auto record = [&](const Evaluation& e) { t.record_eval(e.json(), e.metrics.ap, Better::kHigher, e.summary()); };
  if (!t.resumed()) record(evaluate_and_draw(false));

  // Training loop: each rank collates its own slice of the global batch, a micro-batch at a time.
  while (t.running()) {
    const std::vector<int64_t> slice = to_indices(world.shard(sampler.next()));
    const size_t micro_size = slice.size() / static_cast<size_t>(t.micro_batches());
    t.begin_step();
    // Non-finite predictions already stop the matcher, which names the image.
    std::map<std::string, torch::Tensor> parts;  // the named losses, averaged over micro-batches
    std::string failure;
    for (int64_t m = 0; m < t.micro_batches() && failure.empty(); ++m) {
      const auto first = slice.begin() + static_cast<std::ptrdiff_t>(m * micro_size);
      DetectionBatch batch =
          collate(data.train, {first, first + static_cast<std::ptrdiff_t>(micro_size)}, c.model.output_stride)
              .to(device);
      try {
        SetLosses losses = step_losses(model, criterion, batch, c, world);
        t.backward(losses.total);
        for (const auto& [name, value] : losses.named()) {
          torch::Tensor share = value.detach() / double(t.micro_batches());
          parts[name] = parts.count(name) ? parts[name] + share : share;
        }
      } catch (const std::invalid_argument& e) {
        failure = e.what();
      }
    }
    double loss_value = t.read_loss(!failure.empty());
    if (!std::isfinite(loss_value)) return t.stop_non_finite(loss_value, failure);
    t.finish_step();

    std::string summary = fmt::format("loss {:.4f}", loss_value);
    t.show_progress(summary);
    if (t.due(c.train.log_every)) {
      nlohmann::json values;
      for (const auto& [name, value] : parts) values[name] = value.item<double>();
      t.log_train(values, summary);
    }
    const bool evaluate_now = t.due(c.train.eval_every), sample_now = t.due(c.train.sample_every);
    if (evaluate_now || sample_now) {
      Evaluation e = evaluate_and_draw(sample_now);
      if (evaluate_now) record(e);
    }
    if (!evaluate_now && t.due(c.train.checkpoint_every)) t.save_checkpoint();
    if (std::optional<int> code = t.stop_requested()) return *code;
  }
  return t.finish(fmt::format("best AP {:.4f} | pictures in {}", t.best_metric(), t.samples_dir().string()));
}

// ----------------------------------------------------------------------------------------------
// Commands on an existing run.

struct LoadedRun {
  OpenedRun opened;
  Data data;
  Detr model;
  torch::Device device;
};

LoadedRun load_run(const DetrConfig& c, const std::string& dir) {
  torch::Device device = setup_device(c.device, c.run.seed);
  OpenedRun opened = open_run(dir, c.sample.checkpoint);
  Data data = load_data(c, false);
  Detr model = build_model(c, data, device);
  load_run_weights(opened, *model, c.sample.use_ema);
  return {std::move(opened), std::move(data), std::move(model), device};
}

int sample(DetrConfig& c, const CommandLine& cli) {
  if (auto n = cli.integer_option("n")) c.sample.images = *n;
  if (c.sample.images < 1) throw UsageError("--n must be at least 1");
  LoadedRun r = load_run(c, cli.run_dir);
  torch::NoGradGuard no_grad;
  r.model->eval();
  int64_t count = std::min(c.sample.images, r.data.test.size());
  DetectionBatch batch = collate_range(r.data.test, 0, count, c.model.output_stride).to(r.device);
  DetrOutput output = forward_in_precision(r.model, batch.images, batch.padding_mask, c.device.precision);
  std::vector<Detections> detections =
      decode_detections(output.final_logits(), output.final_boxes(), batch.sizes, c.loss.focal, c.eval.max_detections);
  std::filesystem::path path = r.opened.run.samples_dir() / fmt::format("sample_{}.png", c.sample.checkpoint);
  write_detection_sheet(r.data.test, detections, r.data.test_catalog.category_names, count, c.sample.score_threshold,
                        c.sample.scale, path);
  fmt::print("wrote {} ({} test images; ground truth dashed, predictions with score >= {} solid)\n", path.string(),
             count, c.sample.score_threshold);
  return kExitOk;
}

int eval(const DetrConfig& c, const CommandLine& cli) {
  LoadedRun r = load_run(c, cli.run_dir);
  Evaluation e = evaluate(r.model, r.data, c, r.device);
  // Both sides of the evaluation as COCO files, so that pycocotools can check the numbers.
  std::filesystem::path truth = r.opened.run.dir() / "ground_truth_coco.json";
  std::filesystem::path results = r.opened.run.dir() / fmt::format("detections_{}_coco.json", c.sample.checkpoint);
  const CocoCatalog& catalog = r.data.test_catalog;
  write_coco_annotations(truth, r.data.test_truth, catalog);
  write_coco_results(results, e.detections, catalog.image_ids, catalog.category_ids);
  nlohmann::json summary = e.json();
  summary["ap_per_category"] = category_ap_json(catalog, e.metrics.ap_per_class);
  summary["images"] = r.data.test.size();
  summary["source"] = c.data.source;
  summary["checkpoint"] = c.sample.checkpoint;
  summary["ground_truth_file"] = truth.filename().string();
  summary["detections_file"] = results.filename().string();
  std::filesystem::path written = r.opened.run.write_eval(summary);
  fmt::print("{} test images | AP {:.4f} | AP50 {:.4f} | AP75 {:.4f} | AP small/medium/large {:.4f} {:.4f} {:.4f}\n",
             r.data.test.size(), e.metrics.ap, e.metrics.ap50, e.metrics.ap75, e.metrics.ap_small, e.metrics.ap_medium,
             e.metrics.ap_large);
  fmt::print("AR@1 {:.4f} | AR@10 {:.4f} | AR@100 {:.4f}\n", e.metrics.ar1, e.metrics.ar10, e.metrics.ar100);
  fmt::print("{}", category_ap_table(catalog, e.metrics.ap_per_class));
  fmt::print("wrote {}, {} and {}\n", written.string(), truth.filename().string(), results.filename().string());
  return kExitOk;
}

// The checkpoint read as sample reads it, into a model built on the CPU: no device is needed.
int export_weights(const DetrConfig& c, const CommandLine& cli) {
  OpenedRun opened = open_run(cli.run_dir, c.sample.checkpoint);
  Detr model = build_model(c, load_data(c, false), torch::kCPU);
  export_safetensors(opened, *model, "detr", cli.files.at("safetensors"));
  return kExitOk;
}

// ----------------------------------------------------------------------------------------------
// Bench: training and inference throughput on the configured data, and the matcher alone on the
// issue's reference problem: 64 images, 100 queries, 1..20 targets each.

int bench(DetrConfig& c, const CommandLine& cli) {
  torch::Device device = setup_device(c.device, c.run.seed);
  World world = join_world(c.distributed, device);
  const int64_t local_batch = world.local_batch(c.train.batch_size, "train.batch_size");
  const int64_t steps = cli.integer_option("steps").value_or(10);
  c.data.train_scenes = std::min<int64_t>(c.data.train_scenes, std::max<int64_t>(steps + 1, 4) * c.train.batch_size);
  Data data = load_data(c, true);
  Detr model = build_model(c, data, device);
  synchronize(model, world);
  world.broadcast_module(*model);
  auto optimizer = make_optimizer(*model, c.optim);
  GradientAverager averager(world, model->parameters(), c.distributed.bucket_mb << 20);
  const SetCriterion criterion = make_criterion(c, data.num_classes, c.model.query_groups);
  BatchSampler sampler(data.train.size(), c.train.batch_size, static_cast<uint64_t>(c.run.seed));
  auto train_step = [&] {
    DetectionBatch batch =
        collate(data.train, to_indices(world.shard(sampler.next())), c.model.output_stride).to(device);
    optimizer->zero_grad();
    step_losses(model, criterion, batch, c, world).total.backward();
    averager.finish();
    optimizer->step();
  };
  double train_seconds = timed_seconds(train_step, steps, device);
  const int64_t train_step_ops = dispatched_ops(train_step);
  const nlohmann::json attention_backends = nn::attention_backends_of(train_step);  // from one more step

  int64_t inference_batch = std::min(c.eval.batch_size, data.test.size());
  DetectionBatch test_batch = collate_range(data.test, 0, inference_batch, c.model.output_stride).to(device);
  const int64_t inference_repeats = std::max<int64_t>(steps / 2, 2);
  double inference_seconds = timed_seconds(
      [&] {
        torch::NoGradGuard no_grad;
        model->eval();
        DetrOutput output = forward_in_precision(model, test_batch.images, test_batch.padding_mask, c.device.precision);
        decode_detections(output.final_logits(), output.final_boxes(), test_batch.sizes, c.loss.focal,
                          c.eval.max_detections);
        model->train();
      },
      inference_repeats, device);

  nlohmann::json result = {{"experiment", "detr"},
                           {"device", device.str()},
                           {"threads", torch::get_num_threads()},
                           {"precision", c.device.precision},
                           {"parameters", parameter_count(*model)},
                           {"image_size", fmt::format("{}x{}", c.data.scenes.height, c.data.scenes.width)},
                           {"batch_size", c.train.batch_size},
                           {"queries", c.model.num_queries * c.model.query_groups},
                           {"train_step_ops", train_step_ops},
                           {"attention_backends", attention_backends}};
  // The matcher alone on the reference problem, where the model runs and on one CPU thread.
  result.update(matcher_bench(criterion.matcher(), data.num_classes, c.run.seed + 3, device));
  print_bench(world, result,
              {{"train_images_per_s", {double(steps * local_batch), train_seconds}},
               {"inference_images_per_s", {double(inference_repeats * inference_batch), inference_seconds}}});
  return kExitOk;
}

int main(int argc, char** argv) {
  const std::vector<CommandSpec> commands = {
      {"train", false, {}, "train DETR (built-in defaults: a few CPU minutes on Fashion-MNIST scenes)"},
      {"sample",
       true,
       {{"n", 1, 10000, "test images to draw"}},
       "draw ground truth and predictions on test images into RUN_DIR/samples/"},
      {"eval", true, {}, "COCO mAP/mAR and AP per category into RUN_DIR/eval.json, both sides as COCO JSON"},
      export_command(),
      sweep_command(),
      {"bench",
       false,
       {{"steps", 1, 100000, "timed train steps"}},
       "train and inference images/s and the matcher's time, one JSON line"},
  };
  DetrConfig config;
  Schema schema = describe(config);
  return run_program(argc, argv, "detr", commands, schema, [&](const CommandLine& cli) {
    if (cli.command == "train") return train(config, schema, cli);
    if (cli.command == "sample") return sample(config, cli);
    if (cli.command == "eval") return eval(config, cli);
    if (cli.command == "export") return export_weights(config, cli);
    return bench(config, cli);
  });
}
