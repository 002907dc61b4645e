// Rectified flow with a diffusion transformer, in the style of Stable Diffusion 3 (Esser et al.
// 2024): z_t = (1 - t) x0 + t eps, the network predicts v = eps - x0 under plain MSE, timesteps
// drawn logit-normal, sampling from t = 1 to 0 with Euler or Heun and classifier-free guidance.
//
// With data.latents.vae naming a diffusers VAE folder, the model trains on the VAE's latents of
// the images (encoded once, cached) as SD3 does, and every sample is decoded back to pixels.
//
//   rf_dit train [-c FILE.toml] [key=value ...] [--resume RUN_DIR]
//   rf_dit sample RUN_DIR [--n N]   a grid (one row per class) and a 1..32-step sweep
//   rf_dit classifier               the CNN whose features the Frechet distance uses
//   rf_dit eval RUN_DIR             val loss, FD over steps x guidance, class accuracy, bits/dim
//   rf_dit bench                    train/sample images/s and matmul efficiency, one JSON line
#include <fmt/format.h>
#include <torch/torch.h>
#include <cmath>
#include <nlohmann/json.hpp>
#include <tuple>

#include "base/errors.hpp"
#include "common/data/sources.hpp"
#include "common/data/toy2d.hpp"
#include "common/device.hpp"
#include "common/images.hpp"
#include "common/likelihood.hpp"
#include "common/matmul.hpp"
#include "common/program.hpp"
#include "common/training.hpp"
#include "common/weights_export.hpp"
#include "diffusion/classifier.hpp"
#include "diffusion/dit.hpp"
#include "diffusion/likelihood.hpp"
#include "diffusion/quality_sweep.hpp"
#include "diffusion/rectified_flow.hpp"
#include "diffusion/samplers.hpp"
#include "diffusion/velocity_mlp.hpp"
#include "diffusion/velocity_model.hpp"
#include "experiments/rf_dit_config.hpp"
#include "metrics/fid_reference.hpp"
#include "nn/attention.hpp"

using namespace genbox;
using namespace genbox::diffusion;

// ----------------------------------------------------------------------------------------------
// Data: images stay uint8 and become dequantized [-1, 1] per batch, or are encoded once into a
// VAE's latents; toy sets are float [N, 2].

struct Data : SourceData {
  int64_t num_classes = 0;                    // classes the model is conditioned on: 0 when unconditional or toy
  ModelSpace space;                           // what the model sees: pixels, points or latents
  std::shared_ptr<vae::LatentSpace> latents;  // with data.latents.vae
};

// The DiT's options for the data as the model sees it (pixels or latents).
DitOptions dit_options(const RfConfig& c, const Data& data) {
  DitOptions o = with_preset(c.model.dit, c.model.preset, c.model.width, c.model.depth, c.model.heads, c.model.patch);
  const std::vector<int64_t>& shape = data.space.shape;
  std::tie(o.channels, o.image_size, o.num_classes) = std::tuple(shape[0], shape[1], data.num_classes);
  if (shape[1] != shape[2] || shape[1] % o.patch != 0)
    throw ConfigError(fmt::format("model.patch = {} must divide the {}x{} {}", o.patch, shape[1], shape[2],
                                  data.latents ? "latents" : "images"));
  return o;
}

// With data.latents the model's shape is checked first, then `encode` says which splits to encode.
enum class Encode { kNothing, kTest, kTrainAndTest };
Data load_data(const RfConfig& c, torch::Device device, bool need_train, Encode encode = Encode::kNothing) {
  Data data{load_source(c.data, c.run.seed, device, need_train), 0, {}, nullptr};
  data.num_classes = data.images && c.model.conditional ? data.label_count : 0;
  data.space.shape = data.shape;
  if (c.latents.enabled()) {
    data.latents = std::make_shared<vae::LatentSpace>(c.latents, data, device);
    data.space = {data.latents->shape(), [l = data.latents](const torch::Tensor& z) { return l->to_pixels(z); }};
    dit_options(c, data);
    if (encode != Encode::kNothing) data.latents->encode(data, encode == Encode::kTrainAndTest);
    data.meta["latents"] = data.latents->meta();
  }
  return data;
}

// As pictures: dequantized pixels mapped from [0,1] to [-1,1], or the toy points themselves.
torch::Tensor to_pictures(const SourceData& data, const torch::Tensor& rows, at::Generator generator) {
  return data.images ? dequantize(rows, generator) * 2 - 1 : rows;
}

// ----------------------------------------------------------------------------------------------
// Model: a DiT for images, a small MLP for toy 2D sets; both map (x_t, t, label) to a velocity.

VelocityModel build_model(const RfConfig& c, const Data& data, torch::Device device) {
  VelocityModel model;
  if (data.images) {
    Dit dit(dit_options(c, data));
    model.null_class = dit->null_class();
    model.any = torch::nn::AnyModule(dit);
  } else {
    model.any = torch::nn::AnyModule(VelocityMlp(data.dim(), c.model.toy_hidden, c.model.toy_layers, 0));
  }
  model.module()->to(device);
  return model;
}

// A training batch: images, labels, timesteps and noise, all drawn for the global batch so that
// every rank sees the same numbers whatever the world size.
struct Batch {
  torch::Tensor x0;
  FlowDraw draw;
};

Batch draw_batch(const Data& data, const RfConfig& c, const torch::Tensor& rows, int64_t null_class,
                 at::Generator cpu) {
  torch::Tensor x0 =
      data.latents ? data.latents->train_latents(data, rows, cpu) : to_pictures(data, train_rows(data, rows, cpu), cpu);
  torch::Tensor labels = data.num_classes ? data.train_labels.index_select(0, rows)
                                          : torch::full({x0.size(0)}, null_class, rows.options());
  return {x0, draw_flow_inputs(x0, labels, null_class, c.model.label_dropout, c.flow, cpu)};
}

// ----------------------------------------------------------------------------------------------
// Pictures: images one row per class (at least 4 rows); toy sets a cloud of thousands of points.
SampleSheet sheet_for(const Data& data, int64_t per_row, int64_t seed, torch::Device device) {
  int64_t rows = data.images ? std::max<int64_t>(data.num_classes, 4) : 4096 / per_row;
  return sample_sheet(data.space.shape, rows, per_row, data.num_classes, seed, device);
}

void write_picture(const Data& data, const torch::Tensor& x, int64_t per_row, const std::filesystem::path& path) {
  write_png(path, data.images ? make_grid(((data.space.pixels(x) + 1) / 2).clamp(0, 1).cpu(), per_row)
                              : scatter_image(x, 4.5, 256));
}

// Validation loss: a fixed test batch with fixed timesteps and noise, so values compare.
double validation_loss(VelocityModel& model, const Data& data, const RfConfig& c) {
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(c.run.seed + 7919);
  int64_t n = std::min<int64_t>(c.eval.batch_size, data.test.size(0));
  torch::Tensor x0 =
      data.latents ? data.latents->test_latents(n) : to_pictures(data, data.test.narrow(0, 0, n), generator);
  torch::Tensor labels = data.num_classes ? data.test_labels.narrow(0, 0, n)
                                          : torch::full({n}, model.null_class, x0.options().dtype(torch::kLong));
  return diffusion::validation_loss(model, x0, labels, c.run.seed + 7919 + 1, c.device.precision);
}

// ----------------------------------------------------------------------------------------------

int train(RfConfig& c, const Schema& schema, const CommandLine& cli) {
  // Setup: device, processes, data and model first, so that a bad dataset or model shape is
  // reported before anything is written.
  torch::Device device = setup_device(c.device, c.run.seed);
  World world = join_world(c.distributed, device);
  world.local_batch(c.train.batch_size, "train.batch_size");
  Data data = load_data(c, device, true, Encode::kTrainAndTest);
  VelocityModel model = build_model(c, data, device);
  torch::nn::Module& module = *model.module();
  auto optimizer = make_optimizer(module, c.optim);
  std::unique_ptr<Ema> ema = c.optim.ema_decay > 0 ? std::make_unique<Ema>(module, c.optim.ema_decay) : nullptr;
  BatchSampler sampler(data.train.size(0), c.train.batch_size, static_cast<uint64_t>(c.run.seed));

  nlohmann::json meta = {{"precision", c.device.precision}, {"data_shape", data.shape}, {"data", data.meta}};
  TrainingRun t(run_spec("rf_dit", schema, cli, c, device, meta), world, module, *optimizer, ema.get(), sampler);
  t.log(fmt::format("data {}: {} train, {} test, {} classes{} | model: {} parameters | {}", c.data.dataset,
                    data.train.size(0), data.test.size(0), data.num_classes,
                    data.latents ? " | " + data.latents->summary() : "", parameter_count(module), c.device.precision));
  SampleSheet sheet = sheet_for(data, c.sample.per_class, c.run.seed, device);
  std::optional<metrics::FidReference> fid =
      c.eval.fid_every && t.evaluates() ? fid_reference(c.eval, c.fid, data, c.data.dataset, device) : std::nullopt;
  auto record = [&](double val, nlohmann::json values) {
    values["val_loss"] = val;
    std::string line = fmt::format("validation loss {:.4f}", val);
    if (values.contains("fid"))
      line += fmt::format(" | FID {:.3f} of {} images", values["fid"].get<double>(), c.eval.fid_samples);
    return t.record_eval(values, val, Better::kLower, line);
  };
  if (!t.resumed() && data.images && t.evaluates()) write_training_preview(data, t.samples_dir(), c.run.seed);
  if (!t.resumed()) record(t.evaluates() ? validation_loss(model, data, c) : NAN, nlohmann::json::object());

  at::Generator cpu = at::detail::getDefaultCPUGenerator();
  while (t.running()) {
    Batch global = draw_batch(data, c, sampler.next().to(device), model.null_class, cpu);
    t.begin_step();
    const FlowDraw& d = global.draw;
    const torch::Tensor x0 = world.shard(global.x0), noise = world.shard(d.noise), times = world.shard(d.t),
                        labels = world.shard(d.labels);
    for (int64_t m = 0; m < t.micro_batches(); ++m)
      t.backward(rectified_flow_loss(model, t.micro_batch(x0, m), t.micro_batch(noise, m), t.micro_batch(times, m),
                                     t.micro_batch(labels, m), c.device.precision));
    double loss_value = t.read_loss();
    if (!std::isfinite(loss_value)) return t.stop_non_finite(loss_value);
    t.finish_step();

    std::string summary = fmt::format("loss {:.4f}", loss_value);
    t.show_progress(summary);
    if (t.due(c.train.log_every)) t.log_train({{"loss", loss_value}}, summary);
    if (t.due(c.train.eval_every)) {
      double val = NAN;
      nlohmann::json values = nlohmann::json::object();
      if (t.evaluates()) {
        EmaWeights averaged(t);
        val = validation_loss(model, data, c);
        if (fid && t.due(c.eval.fid_every))
          values = sample_fid(model, data.space, data.num_classes, c.sample, c.device.precision, c.eval.batch_size,
                              c.run.seed + 2000, *fid, c.eval.fid_samples);
      }
      record(val, values);
    } else if (t.due(c.train.checkpoint_every)) {
      t.save_checkpoint();
    }
    if (t.due(c.train.sample_every) && t.evaluates()) {
      EmaWeights averaged(t);
      torch::Tensor x = generate(model, sheet.noise, sheet.labels, c.sample, c.device.precision);
      write_picture(data, x, sheet.per_row, t.samples_dir() / fmt::format("step_{:07d}.png", t.step()));
    }
    if (std::optional<int> code = t.stop_requested()) return *code;
  }
  return t.finish(
      fmt::format("best validation loss {:.4f} | samples in {}", t.best_metric(), t.samples_dir().string()));
}

// ----------------------------------------------------------------------------------------------
// Commands on an existing run.

struct LoadedRun {
  OpenedRun opened;
  Data data;
  VelocityModel model;
  torch::Device device;
};

LoadedRun load_run(const RfConfig& c, const std::string& dir, bool need_train) {
  torch::Device device = setup_device(c.device, c.run.seed);
  OpenedRun opened = open_run(dir, c.sample.checkpoint);
  Data data = load_data(c, device, need_train, need_train ? Encode::kTest : Encode::kNothing);
  VelocityModel model = build_model(c, data, device);
  load_run_weights(opened, *model.module(), c.sample.use_ema);
  return {std::move(opened), std::move(data), std::move(model), device};
}

int sample(const RfConfig& c, const CommandLine& cli) {
  LoadedRun r = load_run(c, cli.run_dir, false);
  int64_t rows = std::max<int64_t>(r.data.num_classes, 4);
  int64_t per_class = cli.integer_option("n") ? (*cli.integer_option("n") + rows - 1) / rows : c.sample.per_class;
  SampleSheet sheet = sheet_for(r.data, per_class, c.run.seed + 1, r.device);
  torch::Tensor x = generate(r.model, sheet.noise, sheet.labels, c.sample, c.device.precision);
  std::filesystem::path grid = r.opened.run.samples_dir() / fmt::format("sample_{}{}_w{:g}.png", c.sample.sampler,
                                                                        c.sample.steps, c.sample.guidance);
  write_picture(r.data, x, per_class, grid);
  fmt::print("wrote {}\n", grid.string());
  if (!r.data.images) return kExitOk;
  if (std::optional<int64_t> count = cli.integer_option("images")) {  // one file per sample, for `fid score`
    torch::Tensor images = generate_in_batches(r.model, r.data.space.shape,
                                               sweep_labels(*count, r.data.num_classes, r.model.null_class, r.device),
                                               c.sample, c.device.precision, c.eval.batch_size, c.run.seed + 3);
    std::filesystem::path dir = grid.parent_path() / ("images_" + grid.stem().string().substr(7));
    write_png_folder(dir, (r.data.space.pixels(images) + 1) / 2);
    fmt::print("wrote {} images into {}\n", *count, dir.string());
  }

  // The same noise (one per class) at 1, 2, 4, ..., 32 steps: one row per step count.
  SampleSheet one = sheet_for(r.data, 1, c.run.seed + 2, r.device);
  torch::Tensor sweep =
      generate_step_sweep(r.model, one.noise, one.labels, c.sample, c.device.precision, {1, 2, 4, 8, 16, 32});
  std::filesystem::path path = r.opened.run.samples_dir() / fmt::format("steps_{}_1-32.png", c.sample.sampler);
  write_picture(r.data, sweep, one.noise.size(0), path);
  fmt::print("wrote {} (rows: 1, 2, 4, 8, 16, 32 steps)\n", path.string());
  return kExitOk;
}

// The FD classifier: trained here on the run config's dataset, stored at eval.classifier.
int classifier(RfConfig& c) {
  torch::Device device = setup_device(c.device, c.run.seed);
  SourceData data = load_source(c.data, c.run.seed, device, true);  // pixels, also for a latent-space run
  if (!data.images) throw UsageError("the classifier needs an image dataset, not " + c.data.dataset);
  std::filesystem::path path = classifier_path(c.eval.classifier, c.run.out_dir);
  double accuracy = fit_classifier(
      data, [&](const torch::Tensor& x, at::Generator g) { return to_pictures(data, x, g); }, c.classifier,
      static_cast<uint64_t>(c.run.seed) + 5, path, {{"dataset", c.data.dataset}, {"root", c.data.root}});
  fmt::print("classifier test accuracy {:.4f}{} | wrote {}\n", accuracy,
             accuracy < 0.9 ? " (below 0.90: Frechet distances from it mean little)" : "", path.string());
  return kExitOk;
}

int eval(const RfConfig& c, const CommandLine& cli) {
  LoadedRun r = load_run(c, cli.run_dir, true);
  const Data& data = r.data;
  nlohmann::json results = {{"dataset", c.data.dataset}, {"checkpoint", c.sample.checkpoint}};
  results["val_loss"] = validation_loss(r.model, data, c);
  fmt::print("validation loss {:.4f}\n", results["val_loss"].get<double>());
  std::optional<metrics::FidReference> fid = fid_reference(c.eval, c.fid, data, c.data.dataset, r.device);
  quality_eval(
      r.model, data, data.space, data.num_classes,
      [&](const torch::Tensor& x, at::Generator g) { return to_pictures(data, x, g); }, c.eval,
      classifier_path(c.eval.classifier, r.opened.run.out_dir()), fid ? &*fid : nullptr, c.fid.input, c.sample,
      c.device.precision, c.run.seed, results);

  // Bits/dim through the probability-flow ODE, dequantized as NICE does, unconditionally; in
  // latent space the latents' own (bpd_latent), which does not compare with pixels'.
  if (c.eval.likelihood_images > 0) {
    int64_t m = std::min(c.eval.likelihood_images, data.test.size(0));
    at::Generator noise = at::make_generator<at::CPUGeneratorImpl>(c.run.seed + 7);
    const int64_t steps = c.eval.likelihood_steps;
    const char* key = data.latents ? "bpd_latent" : data.images ? "bpd" : "nll";
    const torch::Tensor x =
        data.latents ? data.latents->test_latents(m) : to_pictures(data, data.test.narrow(0, 0, m), noise);
    results[key] = data.latents  ? ode_latent_bits_per_dim(r.model, x, steps, noise)
                   : data.images ? ode_bits_per_dim(r.model, x, steps, noise)
                                 : ode_negative_log_likelihood(r.model, x, steps, noise);
    fmt::print("{} ({} test examples, {} Heun steps): {:.4f}\n", key, m, c.eval.likelihood_steps,
               results[key].get<double>());
  }
  fmt::print("wrote {}\n", r.opened.run.write_eval(results).string());
  return kExitOk;
}

// The checkpoint read as sample reads it, into a model built on the CPU: no device is needed.
int export_weights(const RfConfig& c, const CommandLine& cli) {
  OpenedRun opened = open_run(cli.run_dir, c.sample.checkpoint);
  VelocityModel model = build_model(c, load_data(c, torch::kCPU, false), torch::kCPU);
  export_safetensors(opened, *model.module(), "rf_dit", cli.files.at("safetensors"));
  return kExitOk;
}

// Bench: throughput and how much of the machine's matmul speed the model's matmuls achieve.

int bench(RfConfig& c, const CommandLine& cli) {
  torch::Device device = setup_device(c.device, c.run.seed);
  World world = join_world(c.distributed, device);
  const int64_t local_batch = world.local_batch(c.train.batch_size, "train.batch_size");
  const int64_t steps = cli.integer_option("steps").value_or(20);
  Data data = load_data(c, device, true, Encode::kTrainAndTest);
  if (!data.images) throw UsageError("bench measures the DiT; use an image dataset");
  VelocityModel model = build_model(c, data, device);
  world.broadcast_module(*model.module());
  auto optimizer = make_optimizer(*model.module(), c.optim);
  GradientAverager averager(world, model.module()->parameters(), c.distributed.bucket_mb << 20);
  BatchSampler sampler(data.train.size(0), c.train.batch_size, static_cast<uint64_t>(c.run.seed));
  at::Generator cpu = at::detail::getDefaultCPUGenerator();
  auto train_step = [&] {
    Batch b = draw_batch(data, c, sampler.next().to(device), model.null_class, cpu);
    optimizer->zero_grad();
    rectified_flow_loss(model, world.shard(b.x0), world.shard(b.draw.noise), world.shard(b.draw.t),
                        world.shard(b.draw.labels), c.device.precision)
        .backward();
    averager.finish();
    optimizer->step();
  };
  // The step timed in blocks alternating with a plain matmul of its MLP's shape (common/matmul.hpp).
  DitOptions options = dit_options(c, data);
  const int64_t tokens = local_batch * (options.image_size / options.patch) * (options.image_size / options.patch);
  const double step_flops = 3 * dit_forward_flops(options) * double(local_batch);
  const StepAgainstMatmuls timing = time_step_against_matmuls(
      train_step, steps, step_flops, {{tokens, options.width, options.mlp_ratio * options.width}},
      compute_dtype(c.device.precision, device), device, [&] { world.barrier(); });
  const nlohmann::json attention_backends = nn::attention_backends_of(train_step);  // from one more step
  SampleSheet sheet =
      sheet_for(data, std::max<int64_t>(local_batch / std::max<int64_t>(data.num_classes, 4), 1), c.run.seed, device);
  const int64_t sample_repeats = std::max<int64_t>(steps / 10, 2);
  double sample_seconds = timed_seconds(
      [&] { generate(model, sheet.noise, sheet.labels, c.sample, c.device.precision); }, sample_repeats, device);

  nlohmann::json result = {{"experiment", "rf_dit"},
                           {"device", device.str()},
                           {"threads", torch::get_num_threads()},
                           {"precision", c.device.precision},
                           {"preset", c.model.preset},
                           {"parameters", parameter_count(*model.module())},
                           {"batch_size", c.train.batch_size},
                           {"sample_steps", c.sample.steps},
                           {"attention_backends", attention_backends}};
  result.update(matmul_figures(timing, step_flops, steps));
  print_bench(world, result,
              {{"train_images_per_s", {double(steps * local_batch), timing.step_seconds}},
               {"sample_images_per_s", {double(sample_repeats * sheet.noise.size(0)), sample_seconds}}});
  return kExitOk;
}

int main(int argc, char** argv) {
  const std::vector<CommandSpec> commands = {
      {"train", false, {}, "train a rectified-flow DiT (built-in defaults: a few CPU minutes on Fashion-MNIST)"},
      {"sample",
       true,
       {{"n", 1, 10000, "samples in the grid, rounded up to whole rows"},
        {"images", 1, 10000000, "also write this many as PNG files (labels cycling through the classes)"}},
       "write a sample grid and a 1..32-step sweep (and with --images, one file each) into RUN_DIR/samples/"},
      {"classifier", false, {}, "train the CNN used by eval's Frechet distance; writes eval.classifier"},
      {"eval", true, {}, "val loss, FD over steps x guidance, class accuracy, bits/dim into RUN_DIR/eval.json"},
      export_command(),
      sweep_command(),
      {"bench",
       false,
       {{"steps", 1, 100000, "timed train steps"}},
       "train and sampling images/s and matmul efficiency, one JSON line"},
  };
  RfConfig config;
  Schema schema = describe(config);
  return run_program(argc, argv, "rf_dit", commands, schema, [&](const CommandLine& cli) {
    if (cli.command == "train") return train(config, schema, cli);
    if (cli.command == "sample") return sample(config, cli);
    if (cli.command == "classifier") return classifier(config);
    if (cli.command == "eval") return eval(config, cli);
    if (cli.command == "export") return export_weights(config, cli);
    return bench(config, cli);
  });
}
