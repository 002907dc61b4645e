// Rectified flow with a diffusion transformer, in the style of Stable Diffusion 3 (Esser et al.
// 2024): z_t = (1 - t) x0 + t eps, the network predicts v = eps - x0 under plain MSE, timesteps
// drawn logit-normal, sampling from t = 1 to 0 with Euler or Heun and classifier-free guidance.
//
//   rf_dit train [-c FILE.toml] [key=value ...] [--resume RUN_DIR]
//   rf_dit sample RUN_DIR [--n N]   a grid (one row per class) and a 1..32-step sweep
//   rf_dit classifier               the CNN whose features the Frechet distance uses
//   rf_dit eval RUN_DIR             FD over steps x guidance, class accuracy, bits/dim
//   rf_dit bench                    train/sample images/s and matmul efficiency, one JSON line
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
#include "common/data/toy2d.hpp"
#include "common/device.hpp"
#include "common/errors.hpp"
#include "common/fsutil.hpp"
#include "common/images.hpp"
#include "common/likelihood.hpp"
#include "common/optim.hpp"
#include "common/program.hpp"
#include "common/progress.hpp"
#include "common/run.hpp"
#include "common/settings.hpp"
#include "common/signals.hpp"
#include "diffusion/classifier.hpp"
#include "diffusion/dit.hpp"
#include "diffusion/frechet.hpp"
#include "diffusion/likelihood.hpp"
#include "diffusion/rectified_flow.hpp"
#include "diffusion/samplers.hpp"
#include "diffusion/velocity_mlp.hpp"

using namespace genbox;
using namespace genbox::diffusion;

// ----------------------------------------------------------------------------------------------
// Config: every key, its default, range and doc, in one place.

struct RfConfig {
  RunSettings run;
  DeviceSettings device;
  struct {
    std::string dataset = "fashion_mnist";
    std::string root = kFashionMnistRoot;
    int64_t train_limit = 0;
    int64_t toy_size = 20000;
  } data;
  struct {
    std::string preset = "tiny";
    int64_t width = 0, depth = 0, heads = 0, patch = 0;
    int64_t mlp_ratio = 4;
    bool qk_norm = true;
    std::string mlp = "gelu_tanh";
    bool conditional = true;
    double label_dropout = 0.1;
    int64_t toy_hidden = 128;
    int64_t toy_layers = 3;
  } model;
  struct {
    std::string timesteps = "logit_normal";
    double logit_mean = 0.0;
    double logit_std = 1.0;
    double mode_scale = 1.29;
    double shift = 1.0;
  } flow;
  TrainSettings train;
  OptimSettings optim;
  struct {
    int64_t per_class = 8;
    int64_t steps = 16;
    std::string sampler = "euler";
    double guidance = 2.0;
    double shift = 1.0;
    bool use_ema = true;
    std::string checkpoint = "last";
  } sample;
  struct {
    std::string classifier = "outputs/classifier/fashion_mnist.pt";
    int64_t fd_samples = 1000;
    std::vector<int64_t> steps = {4, 16};
    std::vector<double> guidance = {1.0, 2.0, 4.0};
    int64_t likelihood_images = 64;
    int64_t likelihood_steps = 32;
    int64_t batch_size = 250;
  } eval;
  struct {
    int64_t epochs = 5;
    int64_t batch_size = 128;
    double lr = 1e-3;
  } classifier;
};

Schema describe(RfConfig& c) {
  c.run.name = "rf";
  c.train.steps = 3000;
  c.train.batch_size = 64;
  c.train.log_every = 50;
  c.train.eval_every = 500;
  c.train.sample_every = 500;
  c.train.checkpoint_every = 500;
  c.optim.name = "adamw";
  c.optim.lr = 1e-3;
  c.optim.beta2 = 0.99;
  c.optim.warmup_steps = 100;
  c.optim.schedule = "cosine";
  c.optim.min_lr_ratio = 0.1;
  c.optim.clip_grad_norm = 1.0;
  c.optim.ema_decay = 0.999;

  Schema s;
  describe(s, c.run);
  describe(s, c.device);
  s.add_choice("data.dataset", c.data.dataset,
               {"fashion_mnist", "idx", "two_moons", "eight_gaussians", "checkerboard"},
               "image set (fashion_mnist, idx: any MNIST-style IDX set under data.root) or toy 2D");
  s.add("data.root", c.data.root, "directory of the IDX files");
  s.add("data.train_limit", c.data.train_limit, 0, 100000000, "use only the first N training images; 0: all");
  s.add("data.toy_size", c.data.toy_size, 100, 100000000, "training points drawn for a toy 2D set");
  s.add_choice("model.preset", c.model.preset, {"tiny", "small", "base"},
               "DiT size: tiny (CPU), small (DiT-S), base (DiT-B)");
  s.add("model.width", c.model.width, 0, 65536, "token width; 0: the preset's");
  s.add("model.depth", c.model.depth, 0, 1024, "transformer blocks; 0: the preset's");
  s.add("model.heads", c.model.heads, 0, 1024, "attention heads; 0: the preset's");
  s.add("model.patch", c.model.patch, 0, 64, "patch size; 0: the preset's");
  s.add("model.mlp_ratio", c.model.mlp_ratio, 1, 64, "MLP hidden width / token width");
  s.add("model.qk_norm", c.model.qk_norm, "RMSNorm on queries and keys (SD3)");
  s.add_choice("model.mlp", c.model.mlp, {"gelu_tanh", "swiglu"}, "block MLP");
  s.add("model.conditional", c.model.conditional, "class-conditional (with guidance) or unconditional");
  s.add("model.label_dropout", c.model.label_dropout, 0.0, 1.0, "labels replaced by the null class while training");
  s.add("model.toy_hidden", c.model.toy_hidden, 1, 65536, "hidden width of the toy 2D velocity MLP");
  s.add("model.toy_layers", c.model.toy_layers, 1, 64, "hidden layers of the toy 2D velocity MLP");
  s.add_choice("flow.timesteps", c.flow.timesteps, {"logit_normal", "uniform", "mode", "cosmap"},
               "training timestep density (SD3 section 3.1)");
  s.add("flow.logit_mean", c.flow.logit_mean, -10.0, 10.0, "logit-normal location m");
  s.add("flow.logit_std", c.flow.logit_std, 1e-3, 10.0, "logit-normal scale s");
  s.add("flow.mode_scale", c.flow.mode_scale, -1.0, 2.0, "scale s of mode sampling");
  s.add("flow.shift", c.flow.shift, 1e-3, 1000.0, "training shift a: t' = a t / (1 + (a - 1) t)");
  describe(s, c.train);
  describe(s, c.optim);
  s.add("sample.per_class", c.sample.per_class, 1, 1000, "samples per class in grids (unconditional: per row)");
  s.add("sample.steps", c.sample.steps, 1, 10000, "ODE steps from t = 1 to 0");
  s.add_choice("sample.sampler", c.sample.sampler, {"euler", "heun"}, "ODE integrator");
  s.add("sample.guidance", c.sample.guidance, 0.0, 100.0, "classifier-free guidance w (1: none)");
  s.add("sample.shift", c.sample.shift, 1e-3, 1000.0, "sampling shift of the timestep schedule");
  s.add("sample.use_ema", c.sample.use_ema, "sample and evaluate with EMA weights when there are some");
  s.add_choice("sample.checkpoint", c.sample.checkpoint, {"best", "last"}, "checkpoint read by sample and eval");
  s.add("eval.classifier", c.eval.classifier, "checkpoint written by `rf_dit classifier` and read by eval");
  s.add("eval.fd_samples", c.eval.fd_samples, 10, 1000000, "generated and test images per Frechet distance");
  s.add("eval.steps", c.eval.steps, 1, 10000, "sampling steps swept by eval");
  s.add("eval.guidance", c.eval.guidance, 0.0, 100.0, "guidance scales swept by eval");
  s.add("eval.likelihood_images", c.eval.likelihood_images, 0, 1000000, "test images for bits/dim; 0: skip");
  s.add("eval.likelihood_steps", c.eval.likelihood_steps, 1, 100000, "Heun steps of the probability-flow ODE");
  s.add("eval.batch_size", c.eval.batch_size, 1, 100000, "images per forward pass in eval");
  s.add("classifier.epochs", c.classifier.epochs, 1, 1000, "training epochs of the FD classifier");
  s.add("classifier.batch_size", c.classifier.batch_size, 1, 100000, "classifier batch size");
  s.add("classifier.lr", c.classifier.lr, 0.0, 10.0, "classifier Adam learning rate");
  return s;
}

// ----------------------------------------------------------------------------------------------
// Data: images stay uint8 and become dequantized [-1, 1] per batch; toy sets are float [N, 2].

struct Data {
  bool images = false;
  int64_t label_count = 0;  // classes in the labels
  int64_t num_classes = 0;  // classes the model is conditioned on: label_count, or 0 if unconditional
  std::vector<int64_t> shape;  // per example: C, H, W or 2
  torch::Tensor train, train_labels, test, test_labels;
  int64_t dim() const {
    int64_t d = 1;
    for (int64_t s : shape) d *= s;
    return d;
  }
};

bool is_toy(const std::string& dataset) { return dataset != "fashion_mnist" && dataset != "idx"; }

Data load_data(const RfConfig& c, torch::Device device, bool need_train) {
  Data data;
  if (is_toy(c.data.dataset)) {
    data.train = sample_toy2d(c.data.dataset, c.data.toy_size, at::make_generator<at::CPUGeneratorImpl>(c.run.seed * 2 + 11));
    data.test = sample_toy2d(c.data.dataset, std::max<int64_t>(c.data.toy_size / 4, 100),
                             at::make_generator<at::CPUGeneratorImpl>(c.run.seed * 2 + 12));
    data.shape = {2};
    data.train_labels = torch::zeros({data.train.size(0)}, torch::kLong);
    data.test_labels = torch::zeros({data.test.size(0)}, torch::kLong);
  } else {
    ImageDataset test = load_idx_dataset(c.data.root, "test");
    ImageDataset train = need_train ? load_idx_dataset(c.data.root, "train", c.data.train_limit) : test;
    data.images = true;
    data.shape = {test.images.size(1), test.images.size(2), test.images.size(3)};
    data.label_count = train.labels.max().item<int64_t>() + 1;
    data.num_classes = c.model.conditional ? data.label_count : 0;
    data.train = train.images;
    data.train_labels = train.labels;
    data.test = test.images;
    data.test_labels = test.labels;
  }
  data.train = data.train.to(device);
  data.train_labels = data.train_labels.to(device);
  data.test = data.test.to(device);
  data.test_labels = data.test_labels.to(device);
  return data;
}

// Model space: dequantized pixels mapped from [0,1] to [-1,1], or the toy points themselves.
torch::Tensor to_model_space(const Data& data, const torch::Tensor& rows, at::Generator generator) {
  return data.images ? dequantize(rows, generator) * 2 - 1 : rows;
}

torch::Tensor to_pixels(const torch::Tensor& x) { return ((x + 1) / 2).clamp(0, 1); }

// ----------------------------------------------------------------------------------------------
// Model: a DiT for images, a small MLP for toy 2D sets; both map (x_t, t, label) to a velocity.

struct VelocityModel {
  torch::nn::AnyModule any;
  int64_t null_class = 0;
  std::shared_ptr<torch::nn::Module> module() const { return any.ptr(); }
  torch::Tensor operator()(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& labels) {
    return any.forward<torch::Tensor>(x, t, labels);
  }
};

DitOptions dit_options(const RfConfig& c, const Data& data) {
  DitOptions o = dit_preset(c.model.preset);
  if (c.model.width) o.width = c.model.width;
  if (c.model.depth) o.depth = c.model.depth;
  if (c.model.heads) o.heads = c.model.heads;
  if (c.model.patch) o.patch = c.model.patch;
  o.mlp_ratio = c.model.mlp_ratio;
  o.qk_norm = c.model.qk_norm;
  o.mlp = c.model.mlp;
  o.channels = data.shape[0];
  o.image_size = data.shape[1];
  o.num_classes = data.num_classes;
  if (data.shape[1] != data.shape[2] || data.shape[1] % o.patch != 0)
    throw ConfigError(fmt::format("model.patch = {} must divide the {}x{} images", o.patch, data.shape[1], data.shape[2]));
  if (o.width % o.heads != 0)
    throw ConfigError(fmt::format("model.width = {} must be divisible by model.heads = {}", o.width, o.heads));
  return o;
}

VelocityModel build_model(const RfConfig& c, const Data& data, torch::Device device) {
  VelocityModel model;
  if (data.images) {
    Dit dit(dit_options(c, data));
    model.null_class = dit->null_class();
    model.any = torch::nn::AnyModule(dit);
  } else {
    VelocityMlp mlp(data.dim(), c.model.toy_hidden, c.model.toy_layers, 0);
    model.any = torch::nn::AnyModule(mlp);
  }
  model.module()->to(device);
  return model;
}

TimestepSampling timestep_sampling(const RfConfig& c) {
  TimestepSampling s;
  s.kind = c.flow.timesteps;
  s.mean = c.flow.logit_mean;
  s.stddev = c.flow.logit_std;
  s.mode_scale = c.flow.mode_scale;
  s.shift = c.flow.shift;
  return s;
}

// ----------------------------------------------------------------------------------------------
// Sampling: from noise at t = 1 to data at t = 0, guided when the model is conditional.

torch::Tensor generate(VelocityModel& model, const torch::Tensor& noise, const torch::Tensor& labels, int64_t steps,
                       const std::string& sampler, double guidance, double shift, const std::string& precision) {
  torch::NoGradGuard no_grad;
  model.module()->eval();
  AutocastGuard autocast(precision, noise.device());
  auto conditional = [&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& l) {
    return model(x, t, l).to(torch::kFloat32);
  };
  bool guided = model.null_class > 0 && guidance != 1.0;
  VelocityFn velocity = guided ? guided_velocity(conditional, labels, model.null_class, guidance)
                               : VelocityFn([&](const torch::Tensor& x, const torch::Tensor& t) { return conditional(x, t, labels); });
  torch::Tensor x = sampler == "heun" ? sample_heun(velocity, noise, steps, shift) : sample_euler(velocity, noise, steps, shift);
  model.module()->train();
  return x;
}

// One row per class (or rows of an unconditional model), the same noise every time.
struct SampleSheet {
  torch::Tensor noise, labels;
  int64_t per_row;
};

SampleSheet sample_sheet(const Data& data, int64_t per_class, int64_t seed, torch::Device device) {
  // Toy sets are drawn as a cloud of points, which takes thousands of them to read.
  int64_t rows = data.images ? std::max<int64_t>(data.num_classes, 4) : 4096 / per_class;
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed + 104729);
  std::vector<int64_t> shape = {rows * per_class};
  shape.insert(shape.end(), data.shape.begin(), data.shape.end());
  torch::Tensor labels = torch::arange(rows).repeat_interleave(per_class);
  if (data.num_classes == 0) labels.zero_();
  return {at::randn(shape, generator).to(device), labels.to(device), per_class};
}

void write_picture(const Data& data, const torch::Tensor& x, int64_t per_row, const std::filesystem::path& path) {
  if (data.images) write_png(path, make_grid(to_pixels(x).cpu(), per_row));
  else write_png(path, scatter_image(x, 4.5, 256));
}

// ----------------------------------------------------------------------------------------------
// Validation loss: a fixed test batch with fixed timesteps and noise, so values compare.

double validation_loss(VelocityModel& model, const Data& data, const RfConfig& c) {
  torch::NoGradGuard no_grad;
  model.module()->eval();
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(c.run.seed + 7919);
  int64_t n = std::min<int64_t>(c.eval.batch_size, data.test.size(0));
  torch::Tensor x0 = to_model_space(data, data.test.narrow(0, 0, n), generator);
  torch::Tensor labels = data.num_classes ? data.test_labels.narrow(0, 0, n) : torch::full({n}, model.null_class, x0.options().dtype(torch::kLong));
  torch::Tensor noise = at::randn(x0.sizes(), generator).to(x0.device());
  torch::Tensor t = (torch::arange(n, torch::kFloat32) + 0.5).div(n).to(x0.device());
  AutocastGuard autocast(c.device.precision, x0.device());
  torch::Tensor v = model(interpolate(x0, noise, t), t, labels).to(torch::kFloat32);
  model.module()->train();
  return torch::mse_loss(v, velocity_target(x0, noise)).item<double>();
}

// ----------------------------------------------------------------------------------------------

int train(RfConfig& c, const Schema& schema, const CommandLine& cli) {
  // Setup: device, seed, data and model first, so that a bad dataset or model shape is reported
  // before anything is written; then the run directory.
  torch::Device device = setup_device(c.device, c.run.seed);
  Data data = load_data(c, device, true);
  VelocityModel model = build_model(c, data, device);
  const bool resuming = !cli.resume_dir.empty();
  Run run = resuming ? Run::open(cli.resume_dir) : Run::create(c.run.out_dir, "rf_dit", c.run.name, schema.to_toml(true), cli.text);
  if (resuming) {
    write_file_atomic(run.dir() / "config.toml", schema.to_toml(true));
    run.mark_resumed(cli.text);
  }
  run.meta().update({{"torch_version", torch_version()}, {"device", device.str()},
                     {"threads", torch::get_num_threads()}, {"seed", c.run.seed}, {"precision", c.device.precision},
                     {"data_shape", data.shape}});
  run.write_meta();
  run.log(fmt::format("run {} | device {} | {} threads | {}", run.dir().string(), device.str(),
                      torch::get_num_threads(), c.device.precision));
  run.log(fmt::format("data {}: {} train, {} test, {} classes", c.data.dataset, data.train.size(0),
                      data.test.size(0), data.num_classes));

  // Optimizer, EMA, batches, checkpoints.
  torch::nn::Module& module = *model.module();
  auto optimizer = make_optimizer(module, c.optim);
  std::unique_ptr<Ema> ema = c.optim.ema_decay > 0 ? std::make_unique<Ema>(module, c.optim.ema_decay) : nullptr;
  BatchSampler sampler(data.train.size(0), c.train.batch_size, static_cast<uint64_t>(c.run.seed));
  CheckpointKeeper checkpoints(run.checkpoints_dir(), c.train.keep_checkpoints);
  TrainingState state;
  if (resuming) {
    state = load_checkpoint(checkpoints.last(), module, ema.get(), optimizer.get(), true);
    sampler.set_position(state.sampler_position);
    run.log(fmt::format("resumed at step {} from {}", state.step, checkpoints.last().string()));
  } else {
    run.log(fmt::format("model: {} parameters", parameter_count(module)));
  }
  SampleSheet sheet = sample_sheet(data, c.sample.per_class, c.run.seed, device);
  const TimestepSampling timesteps = timestep_sampling(c);
  at::Generator cpu = at::detail::getDefaultCPUGenerator();

  // Training loop.
  install_stop_handlers();
  const int64_t fault_step = nan_fault_step();
  const int64_t total = c.train.steps;
  auto due = [&](int64_t every, int64_t step) { return step == total || (every > 0 && step % every == 0); };
  Progress progress(state.step, total);
  std::vector<torch::Tensor> params = module.parameters();
  while (state.step < total) {
    torch::Tensor rows = sampler.next().to(device);
    torch::Tensor x0 = to_model_space(data, data.train.index_select(0, rows), cpu);
    torch::Tensor labels = data.num_classes ? data.train_labels.index_select(0, rows)
                                            : torch::full({x0.size(0)}, model.null_class, rows.options());
    // Dropping labels to the null class trains the unconditional velocity that guidance needs.
    torch::Tensor dropped = (at::rand({x0.size(0)}, cpu) < c.model.label_dropout).to(device);
    labels = torch::where(dropped, torch::full_like(labels, model.null_class), labels);
    torch::Tensor t = sample_timesteps(timesteps, x0.size(0), cpu).to(device);
    torch::Tensor noise = at::randn(x0.sizes(), cpu).to(device);

    double lr = learning_rate_at(c.optim, state.step, total);
    set_learning_rate(*optimizer, lr);
    optimizer->zero_grad();
    torch::Tensor v;
    {
      AutocastGuard autocast(c.device.precision, device);
      v = model(interpolate(x0, noise, t), t, labels);
    }
    torch::Tensor loss = torch::mse_loss(v.to(torch::kFloat32), velocity_target(x0, noise));
    if (state.step + 1 == fault_step) loss = loss * std::numeric_limits<float>::quiet_NaN();
    double loss_value = loss.item<double>();
    if (!std::isfinite(loss_value)) {
      progress.finish_line();
      run.log(fmt::format("non-finite loss ({}) at step {}; stopping. The last good checkpoint is {}", loss_value,
                          state.step + 1, checkpoints.last().string()));
      run.meta()["failure"] = fmt::format("non-finite loss at step {}", state.step + 1);
      run.set_status("failed", state.step);
      return kExitNonFinite;
    }
    loss.backward();
    double grad_norm = clip_grad_norm(params, c.optim.clip_grad_norm);
    optimizer->step();
    if (ema) ema->update(module);
    state.step += 1;
    state.sampler_position = sampler.position();

    std::string summary = fmt::format("loss {:.4f}", loss_value);
    progress.update(state.step, summary);
    if (due(c.train.log_every, state.step)) {
      run.append_metrics(state.step, "train", {{"loss", loss_value}, {"lr", lr}, {"grad_norm", grad_norm}});
      run.log(progress.line(state.step, summary), !progress.interactive());
    }

    bool evaluate_now = due(c.train.eval_every, state.step);
    if (evaluate_now) {
      if (ema) ema->swap_into(module);
      double val = validation_loss(model, data, c);
      if (ema) ema->swap_into(module);
      run.append_metrics(state.step, "eval", {{"val_loss", val}});
      bool improved = val < state.best_metric;
      if (improved) state.best_metric = val;
      checkpoints.save(module, ema.get(), optimizer.get(), state);
      if (improved) checkpoints.mark_best();
      progress.finish_line();
      run.log(fmt::format("step {} | validation loss {:.4f}{}", state.step, val, improved ? " (best)" : ""));
    } else if (due(c.train.checkpoint_every, state.step)) {
      checkpoints.save(module, ema.get(), optimizer.get(), state);
    }
    if (due(c.train.sample_every, state.step)) {
      if (ema) ema->swap_into(module);
      torch::Tensor x = generate(model, sheet.noise, sheet.labels, c.sample.steps, c.sample.sampler, c.sample.guidance,
                                 c.sample.shift, c.device.precision);
      if (ema) ema->swap_into(module);
      write_picture(data, x, sheet.per_row, run.samples_dir() / fmt::format("step_{:07d}.png", state.step));
    }
    run.meta()["step"] = state.step;

    if (int signal = stop_signal()) {
      progress.finish_line();
      if (!evaluate_now) checkpoints.save(module, ema.get(), optimizer.get(), state);
      run.set_status("interrupted", state.step);
      run.log(fmt::format("interrupted by signal {} at step {}; resume with: rf_dit train --resume {}", signal,
                          state.step, run.dir().string()));
      return signal == SIGINT ? kExitSigint : kExitSigterm;
    }
  }
  progress.finish_line();
  run.set_status("finished", state.step);
  run.log(fmt::format("finished {} steps in {} | best validation loss {:.4f} | samples in {}", state.step,
                      format_duration(run.elapsed_seconds()), state.best_metric, run.samples_dir().string()));
  return kExitOk;
}

// ----------------------------------------------------------------------------------------------
// Commands on an existing run.

struct LoadedRun {
  Run run;
  Data data;
  VelocityModel model;
  torch::Device device;
};

LoadedRun load_run(const RfConfig& c, const std::string& dir, bool need_train) {
  torch::Device device = setup_device(c.device, c.run.seed);
  Run run = Run::open(dir);
  Data data = load_data(c, device, need_train);
  VelocityModel model = build_model(c, data, device);
  std::filesystem::path checkpoint = run.checkpoints_dir() / (c.sample.checkpoint + ".pt");
  if (!std::filesystem::exists(checkpoint)) checkpoint = run.checkpoints_dir() / "last.pt";
  bool ema = load_weights(checkpoint, *model.module(), c.sample.use_ema);
  fmt::print("loaded {}{}\n", checkpoint.string(), ema ? " (EMA weights)" : "");
  return {std::move(run), std::move(data), std::move(model), device};
}

int sample(const RfConfig& c, const CommandLine& cli) {
  LoadedRun r = load_run(c, cli.run_dir, false);
  int64_t rows = std::max<int64_t>(r.data.num_classes, 4);
  int64_t per_class = cli.integer_option("n") ? (*cli.integer_option("n") + rows - 1) / rows : c.sample.per_class;
  SampleSheet sheet = sample_sheet(r.data, per_class, c.run.seed + 1, r.device);
  torch::Tensor x = generate(r.model, sheet.noise, sheet.labels, c.sample.steps, c.sample.sampler, c.sample.guidance,
                             c.sample.shift, c.device.precision);
  std::filesystem::path grid = r.run.samples_dir() / fmt::format("sample_{}{}_w{:g}.png", c.sample.sampler, c.sample.steps, c.sample.guidance);
  write_picture(r.data, x, per_class, grid);
  fmt::print("wrote {}\n", grid.string());
  if (!r.data.images) return kExitOk;

  // The same noise (one per class) at 1, 2, 4, ..., 32 steps: one row per step count.
  const std::vector<int64_t> step_counts = {1, 2, 4, 8, 16, 32};
  SampleSheet one = sample_sheet(r.data, 1, c.run.seed + 2, r.device);
  std::vector<torch::Tensor> sweep;
  for (int64_t steps : step_counts)
    sweep.push_back(generate(r.model, one.noise, one.labels, steps, c.sample.sampler, c.sample.guidance, c.sample.shift,
                             c.device.precision));
  std::filesystem::path path = r.run.samples_dir() / fmt::format("steps_{}_1-32.png", c.sample.sampler);
  write_picture(r.data, torch::cat(sweep), one.noise.size(0), path);
  fmt::print("wrote {} (rows: 1, 2, 4, 8, 16, 32 steps)\n", path.string());
  return kExitOk;
}

// The FD classifier: trained here on the run config's dataset, stored at eval.classifier.
Classifier make_classifier(const Data& data) { return Classifier(data.shape[0], data.shape[1], data.label_count); }

// 1 where the classifier names the given label, per image.
torch::Tensor classifier_hits(Classifier& classifier, const torch::Tensor& x, const torch::Tensor& labels, int64_t batch) {
  torch::NoGradGuard no_grad;
  classifier->eval();
  std::vector<torch::Tensor> hits;
  for (int64_t i = 0; i < x.size(0); i += batch) {
    int64_t n = std::min(batch, x.size(0) - i);
    hits.push_back(classifier->forward(x.narrow(0, i, n)).argmax(1).eq(labels.narrow(0, i, n)).to(torch::kFloat64));
  }
  return torch::cat(hits);
}

int train_classifier(RfConfig& c) {
  torch::Device device = setup_device(c.device, c.run.seed);
  Data data = load_data(c, device, true);
  if (!data.images) throw UsageError("the classifier needs an image dataset, not " + c.data.dataset);
  Classifier classifier = make_classifier(data);
  classifier->to(device);
  torch::optim::Adam optimizer(classifier->parameters(), torch::optim::AdamOptions(c.classifier.lr));
  BatchSampler sampler(data.train.size(0), c.classifier.batch_size, static_cast<uint64_t>(c.run.seed) + 5);
  at::Generator cpu = at::detail::getDefaultCPUGenerator();
  const int64_t steps = c.classifier.epochs * sampler.batches_per_epoch();
  Progress progress(0, steps);
  for (int64_t step = 1; step <= steps; ++step) {
    torch::Tensor rows = sampler.next().to(device);
    torch::Tensor x = to_model_space(data, data.train.index_select(0, rows), cpu);
    optimizer.zero_grad();
    torch::Tensor loss = torch::cross_entropy_loss(classifier->forward(x), data.train_labels.index_select(0, rows));
    loss.backward();
    optimizer.step();
    std::string summary = fmt::format("loss {:.4f}", loss.item<double>());
    progress.update(step, summary);
    if (!progress.interactive() && step % sampler.batches_per_epoch() == 0)
      fmt::print("epoch {} | {}\n", step / sampler.batches_per_epoch(), progress.line(step, summary));
  }
  progress.finish_line();
  at::Generator fixed = at::make_generator<at::CPUGeneratorImpl>(1);
  double accuracy =
      classifier_hits(classifier, to_model_space(data, data.test, fixed), data.test_labels, 1000).mean().item<double>();
  std::filesystem::path path = c.eval.classifier;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  save_checkpoint(path, *classifier, nullptr, nullptr, {steps, 0, 1 - accuracy});
  nlohmann::json summary = {{"dataset", c.data.dataset}, {"root", c.data.root}, {"test_accuracy", accuracy},
                            {"epochs", c.classifier.epochs}};
  write_file_atomic(path.string() + ".json", summary.dump(2) + "\n");
  fmt::print("classifier test accuracy {:.4f}{} | wrote {}\n", accuracy,
             accuracy < 0.9 ? " (below 0.90: Frechet distances from it mean little)" : "", path.string());
  return kExitOk;
}

// Features of images (model space) in batches.
torch::Tensor features_of(Classifier& classifier, const torch::Tensor& x, int64_t batch) {
  torch::NoGradGuard no_grad;
  classifier->eval();
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < x.size(0); i += batch) out.push_back(classifier->features(x.narrow(0, i, std::min(batch, x.size(0) - i))));
  return torch::cat(out);
}

int eval(const RfConfig& c, const CommandLine& cli) {
  LoadedRun r = load_run(c, cli.run_dir, true);
  const Data& data = r.data;
  nlohmann::json results = {{"dataset", c.data.dataset}, {"checkpoint", c.sample.checkpoint}};
  at::Generator fixed = at::make_generator<at::CPUGeneratorImpl>(c.run.seed + 31);
  const int64_t n = std::min(c.eval.fd_samples, data.test.size(0));
  torch::Tensor test = to_model_space(data, data.test.narrow(0, 0, n), fixed);

  // Generated images for one (steps, guidance) setting; labels cycle through the classes.
  auto generated = [&](int64_t steps, double guidance, torch::Tensor& labels) {
    std::vector<torch::Tensor> parts;
    torch::Tensor all_labels = torch::arange(n).remainder(std::max<int64_t>(data.num_classes, 1)).to(r.device);
    if (data.num_classes == 0) all_labels.fill_(r.model.null_class);
    at::Generator noise = at::make_generator<at::CPUGeneratorImpl>(c.run.seed + 1000 + steps);
    for (int64_t i = 0; i < n; i += c.eval.batch_size) {
      int64_t b = std::min(c.eval.batch_size, n - i);
      std::vector<int64_t> shape = {b};
      shape.insert(shape.end(), data.shape.begin(), data.shape.end());
      parts.push_back(generate(r.model, at::randn(shape, noise).to(r.device), all_labels.narrow(0, i, b), steps,
                               c.sample.sampler, guidance, c.sample.shift, c.device.precision));
    }
    labels = all_labels;
    return torch::cat(parts);
  };

  std::function<torch::Tensor(const torch::Tensor&)> embed = [](const torch::Tensor& x) { return x; };
  Classifier classifier{nullptr};
  if (data.images) {
    if (!std::filesystem::exists(c.eval.classifier))
      throw DataError(fmt::format("{}: no classifier; train one with `rf_dit classifier` (same data keys), or set "
                                  "eval.classifier",
                                  c.eval.classifier));
    classifier = make_classifier(data);
    classifier->to(r.device);
    load_weights(c.eval.classifier, *classifier, false);
    results["classifier_test_accuracy"] =
        classifier_hits(classifier, test, data.test_labels.narrow(0, 0, n), c.eval.batch_size).mean().item<double>();
    embed = [&](const torch::Tensor& x) { return features_of(classifier, x, c.eval.batch_size); };
  }
  torch::Tensor test_features = embed(test);
  torch::Tensor train_rows = at::randperm(data.train.size(0), fixed).narrow(0, 0, std::min(n, data.train.size(0))).to(r.device);
  results["fd_train_vs_test"] = frechet_distance(embed(to_model_space(data, data.train.index_select(0, train_rows), fixed)), test_features);
  fmt::print("FD floor (train vs test, {} images): {:.3f}\n", n, results["fd_train_vs_test"].get<double>());

  nlohmann::json sweep = nlohmann::json::array();
  for (int64_t steps : c.eval.steps) {
    for (double guidance : c.eval.guidance) {
      if (data.num_classes == 0 && guidance != c.eval.guidance.front()) continue;
      torch::Tensor labels;
      torch::Tensor x = generated(steps, guidance, labels);
      nlohmann::json row = {{"steps", steps}, {"guidance", data.num_classes ? guidance : 1.0},
                            {"fd", frechet_distance(embed(x), test_features)}};
      if (data.images && data.num_classes) {
        torch::Tensor hits = classifier_hits(classifier, x, labels, c.eval.batch_size);
        row["class_accuracy"] = hits.mean().item<double>();
        std::vector<double> per_class;
        for (int64_t k = 0; k < data.num_classes; ++k) per_class.push_back(hits.index({labels.eq(k)}).mean().item<double>());
        row["class_accuracy_per_class"] = per_class;
      }
      fmt::print("{}\n", row.dump());
      sweep.push_back(row);
    }
  }
  results["sweep"] = sweep;

  // Bits/dim through the probability-flow ODE, dequantized as NICE does, unconditionally.
  if (c.eval.likelihood_images > 0) {
    int64_t m = std::min(c.eval.likelihood_images, data.test.size(0));
    at::Generator noise = at::make_generator<at::CPUGeneratorImpl>(c.run.seed + 7);
    torch::Tensor x = to_model_space(data, data.test.narrow(0, 0, m), noise);
    r.model.module()->eval();
    torch::Tensor null_labels = torch::full({m}, r.model.null_class, torch::TensorOptions().dtype(torch::kLong).device(r.device));
    VelocityFn velocity = [&](const torch::Tensor& z, const torch::Tensor& t) { return r.model(z, t, null_labels); };
    torch::Tensor log_p = ode_log_likelihood(velocity, x, c.eval.likelihood_steps, noise);
    if (data.images) {
      // x = 2y - 1 with y = (pixel + u) / 256 in [0,1]: log p(y) = log p(x) + D ln 2.
      torch::Tensor log_p_unit = log_p.to(torch::kFloat64) + double(data.dim()) * std::log(2.0);
      results["bpd"] = bits_per_dim(log_p_unit, data.dim()).mean().item<double>();
      fmt::print("bits/dim ({} test images, {} Heun steps): {:.4f}\n", m, c.eval.likelihood_steps, results["bpd"].get<double>());
    } else {
      results["nll"] = -log_p.mean().item<double>();
      fmt::print("nll ({} test points, {} Heun steps): {:.4f}\n", m, c.eval.likelihood_steps, results["nll"].get<double>());
    }
  }
  r.run.write_eval(results);
  fmt::print("wrote {}\n", (r.run.dir() / "eval.json").string());
  return kExitOk;
}

// ----------------------------------------------------------------------------------------------
// Bench: throughput and how much of the machine's matmul speed the model's matmuls achieve.

// Multiply-adds x 2 of one DiT forward per image, counting the matmuls only.
double dit_forward_flops(const DitOptions& o) {
  double tokens = double(o.image_size / o.patch) * double(o.image_size / o.patch);
  double d = double(o.width), patch_dim = double(o.patch * o.patch * o.channels);
  double per_block = tokens * (3 * d * d + d * d + 2 * double(o.mlp_ratio) * d * d)  // qkv, proj, MLP
                     + 2 * tokens * tokens * d                                        // QK^T and AV
                     + d * 6 * d;                                                     // adaLN-Zero
  double outside = tokens * patch_dim * d * 2 + d * 2 * d + 256 * d + d * d;          // patches in/out, final, time MLP
  return 2 * (double(o.depth) * per_block + outside);
}

int bench(RfConfig& c, const CommandLine& cli) {
  torch::Device device = setup_device(c.device, c.run.seed);
  const int64_t steps = cli.integer_option("steps").value_or(20);
  Data data = load_data(c, device, true);
  if (!data.images) throw UsageError("bench measures the DiT; use an image dataset");
  VelocityModel model = build_model(c, data, device);
  auto optimizer = make_optimizer(*model.module(), c.optim);
  BatchSampler sampler(data.train.size(0), c.train.batch_size, static_cast<uint64_t>(c.run.seed));
  at::Generator cpu = at::detail::getDefaultCPUGenerator();
  auto seconds = [&](const std::function<void()>& work, int64_t repeats) { return timed_seconds(work, repeats, device); };
  auto train_step = [&] {
    torch::Tensor rows = sampler.next().to(device);
    torch::Tensor x0 = to_model_space(data, data.train.index_select(0, rows), cpu);
    torch::Tensor labels = data.train_labels.index_select(0, rows);
    torch::Tensor t = torch::rand({x0.size(0)}, cpu).to(device);
    torch::Tensor noise = torch::randn_like(x0);
    optimizer->zero_grad();
    torch::Tensor v;
    {
      AutocastGuard autocast(c.device.precision, device);
      v = model(interpolate(x0, noise, t), t, labels);
    }
    torch::mse_loss(v.to(torch::kFloat32), velocity_target(x0, noise)).backward();
    optimizer->step();
  };
  double train_seconds = seconds(train_step, steps);
  double train_images_per_s = double(steps * c.train.batch_size) / train_seconds;

  SampleSheet sheet = sample_sheet(data, std::max<int64_t>(c.train.batch_size / std::max<int64_t>(data.num_classes, 4), 1),
                                   c.run.seed, device);
  const int64_t sample_repeats = std::max<int64_t>(steps / 10, 2);
  double sample_seconds = seconds([&] {
    generate(model, sheet.noise, sheet.labels, c.sample.steps, c.sample.sampler, c.sample.guidance, c.sample.shift,
             c.device.precision);
  }, sample_repeats);
  double sample_images_per_s = double(sample_repeats * sheet.noise.size(0)) / sample_seconds;

  // A plain matmul of the shape the blocks' MLP multiplies, in the same precision.
  DitOptions options = dit_options(c, data);
  int64_t tokens = c.train.batch_size * (options.image_size / options.patch) * (options.image_size / options.patch);
  auto dtype = c.device.precision == "bf16" && device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  torch::Tensor a = torch::randn({tokens, options.width}, torch::TensorOptions().device(device).dtype(dtype));
  torch::Tensor b = torch::randn({options.width, options.mlp_ratio * options.width}, a.options());
  double matmul_seconds = seconds([&] { torch::mm(a, b); }, 20);
  double matmul_gflops = 2.0 * double(tokens) * double(options.width) * double(options.mlp_ratio * options.width) * 20 / matmul_seconds / 1e9;
  double model_gflops = 3 * dit_forward_flops(options) * train_images_per_s / 1e9;

  nlohmann::json result = {{"experiment", "rf_dit"},
                           {"device", device.str()},
                           {"threads", torch::get_num_threads()},
                           {"precision", c.device.precision},
                           {"preset", c.model.preset},
                           {"parameters", parameter_count(*model.module())},
                           {"batch_size", c.train.batch_size},
                           {"train_images_per_s", train_images_per_s},
                           {"sample_images_per_s", sample_images_per_s},
                           {"sample_steps", c.sample.steps},
                           {"model_matmul_gflops", model_gflops},
                           {"plain_matmul_gflops", matmul_gflops},
                           {"efficiency", model_gflops / matmul_gflops}};
  fmt::print("{}\n", result.dump());
  return kExitOk;
}

int main(int argc, char** argv) {
  const std::vector<CommandSpec> commands = {
      {"train", false, {}, "train a rectified-flow DiT (built-in defaults: a few CPU minutes on Fashion-MNIST)"},
      {"sample", true, {"n"}, "write a sample grid and a 1..32-step sweep into RUN_DIR/samples/"},
      {"classifier", false, {}, "train the CNN used by eval's Frechet distance; writes eval.classifier"},
      {"eval", true, {}, "FD over steps x guidance, class accuracy and bits/dim into RUN_DIR/eval.json"},
      {"bench", false, {"steps"}, "train and sampling images/s and matmul efficiency, one JSON line"},
  };
  RfConfig config;
  Schema schema = describe(config);
  return run_program(argc, argv, "rf_dit", commands, schema, [&](const CommandLine& cli) {
    if (cli.command == "train") return train(config, schema, cli);
    if (cli.command == "sample") return sample(config, cli);
    if (cli.command == "classifier") return train_classifier(config);
    if (cli.command == "eval") return eval(config, cli);
    return bench(config, cli);
  });
}
