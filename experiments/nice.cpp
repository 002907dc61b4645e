// NICE: an additive-coupling normalizing flow trained by exact maximum likelihood
// (Dinh, Krueger, Bengio 2014), on Fashion-MNIST, any IDX image set, or toy 2D data.
//
//   nice train [-c FILE.toml] [key=value ...] [--resume RUN_DIR]
//   nice sample RUN_DIR [--n N] [sample.temperature=0.8]
//   nice eval RUN_DIR           test bits/dim and log-likelihood into eval.json
//   nice inpaint RUN_DIR        fill hidden pixels of test images by gradient ascent on log p
//   nice bench [key=value ...]  train steps/s and samples/s as one JSON line
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
#include "flows/inpaint.hpp"
#include "flows/nice.hpp"

using namespace genbox;
using genbox::flows::Nice;

// ----------------------------------------------------------------------------------------------
// Config: every key, its default, range and doc, in one place.

struct NiceConfig {
  RunSettings run;
  DeviceSettings device;
  struct {
    std::string dataset = "fashion_mnist";
    std::string root = kFashionMnistRoot;
    int64_t train_limit = 0;
    int64_t toy_size = 20000;
  } data;
  struct {
    int64_t coupling_layers = 4;
    int64_t hidden = 256;
    int64_t hidden_layers = 3;
    std::string prior = "logistic";
    bool data_init = true;
    int64_t data_init_examples = 2000;
  } model;
  TrainSettings train;
  OptimSettings optim;
  struct {
    int64_t n = 64;
    double temperature = 1.0;
    bool use_ema = true;
    std::string checkpoint = "best";
  } sample;
  struct {
    int64_t batch_size = 1000;
    int64_t limit = 0;
  } eval;
  struct {
    int64_t n = 8;
    std::string mask = "bottom_half";
    int64_t steps = 500;
    double step_scale = 10.0;
    double noise = 0.0;
  } inpaint;
};

Schema describe(NiceConfig& c) {
  c.run.name = "nice";
  c.train.steps = 3000;
  c.train.batch_size = 200;
  c.train.log_every = 50;
  c.train.eval_every = 500;
  c.train.sample_every = 500;
  c.train.checkpoint_every = 500;
  // The paper's Adam: lr 1e-3, beta2 0.99 (its "0.01" is 1 - beta2), eps 1e-4, no decay.
  c.optim.name = "adam";
  c.optim.lr = 1e-3;
  c.optim.beta1 = 0.9;
  c.optim.beta2 = 0.99;
  c.optim.eps = 1e-4;

  Schema s;
  describe(s, c.run);
  describe(s, c.device);
  s.add_choice("data.dataset", c.data.dataset,
               {"fashion_mnist", "idx", "two_moons", "eight_gaussians", "checkerboard"},
               "image set (fashion_mnist, idx: any MNIST-style IDX set under data.root) or toy 2D");
  s.add("data.root", c.data.root, "directory of the IDX files");
  s.add("data.train_limit", c.data.train_limit, 0, 100000000, "use only the first N training images; 0: all");
  s.add("data.toy_size", c.data.toy_size, 100, 100000000, "training points drawn for a toy 2D set");
  s.add("model.coupling_layers", c.model.coupling_layers, 1, 64, "additive coupling layers (partitions alternate)");
  s.add("model.hidden", c.model.hidden, 1, 65536, "width of each coupling MLP's hidden layers");
  s.add("model.hidden_layers", c.model.hidden_layers, 0, 64, "hidden ReLU layers per coupling MLP");
  s.add_choice("model.prior", c.model.prior, {"logistic", "gaussian"}, "factorised prior on z");
  s.add("model.data_init", c.model.data_init, "initialise couplings as identity and the scaling from data");
  s.add("model.data_init_examples", c.model.data_init_examples, 2, 1000000, "training examples used by data_init");
  describe(s, c.train);
  describe(s, c.optim);
  s.add("sample.n", c.sample.n, 1, 100000, "samples drawn by `nice sample` and during training");
  s.add("sample.temperature", c.sample.temperature, 0.0, 10.0, "scale of the prior sample (1: the model itself)");
  s.add("sample.use_ema", c.sample.use_ema, "sample and evaluate with EMA weights when there are some");
  s.add_choice("sample.checkpoint", c.sample.checkpoint, {"best", "last"}, "checkpoint read by sample, eval, inpaint");
  s.add("eval.batch_size", c.eval.batch_size, 1, 1000000, "test examples per forward pass");
  s.add("eval.limit", c.eval.limit, 0, 100000000, "evaluate on the first N test examples; 0: the whole test set");
  s.add("inpaint.n", c.inpaint.n, 1, 1000, "test images to inpaint");
  s.add_choice("inpaint.mask", c.inpaint.mask, {"bottom_half", "right_half", "random_half", "center"},
               "which pixels are hidden");
  s.add("inpaint.steps", c.inpaint.steps, 1, 1000000, "projected gradient ascent iterations");
  s.add("inpaint.step_scale", c.inpaint.step_scale, 0.0, 1e6, "step size at iteration i: step_scale / (100 + i)");
  s.add("inpaint.noise", c.inpaint.noise, 0.0, 1e6, "std of the noise added to the normalised gradient (the paper adds 1)");
  return s;
}

// ----------------------------------------------------------------------------------------------
// Data: images stay uint8 [N, D] and are dequantized per batch; toy sets are float [N, 2].

struct Data {
  bool images = false;
  std::vector<int64_t> image_shape;  // C, H, W
  torch::Tensor train, test;
  int64_t dim() const { return train.size(1); }
};

bool is_toy(const std::string& dataset) { return dataset != "fashion_mnist" && dataset != "idx"; }

Data load_data(const NiceConfig& c, torch::Device device, bool need_train) {
  Data data;
  if (is_toy(c.data.dataset)) {
    // Train and test points come from disjoint streams of the run's seed.
    data.train = sample_toy2d(c.data.dataset, c.data.toy_size,
                              at::make_generator<at::CPUGeneratorImpl>(c.run.seed * 2 + 11));
    data.test = sample_toy2d(c.data.dataset, std::max<int64_t>(c.data.toy_size / 4, 100),
                             at::make_generator<at::CPUGeneratorImpl>(c.run.seed * 2 + 12));
  } else {
    ImageDataset test = load_idx_dataset(c.data.root, "test", c.eval.limit);
    data.images = true;
    data.image_shape = {test.images.size(1), test.images.size(2), test.images.size(3)};
    data.test = test.images.flatten(1);
    data.train = need_train ? load_idx_dataset(c.data.root, "train", c.data.train_limit).images.flatten(1)
                            : data.test;
  }
  data.train = data.train.to(device);
  data.test = data.test.to(device);
  return data;
}

// A batch as the flow sees it: dequantized pixels in [0,1], or the toy points themselves.
torch::Tensor prepare(const Data& data, const torch::Tensor& rows, at::Generator generator) {
  return data.images ? dequantize(rows, generator) : rows;
}

// ----------------------------------------------------------------------------------------------
// Evaluation: the whole test set with fixed dequantization noise, so evaluations compare.

struct Evaluation {
  double bpd = NAN;   // images only
  double nats = NAN;  // images: mean log p(x) on [0,1]^D, the paper's figure (higher is better)
  double nll = NAN;   // mean -log p(x) per example, in nats
  double metric() const { return std::isnan(bpd) ? nll : bpd; }
  nlohmann::json json() const {
    if (std::isnan(bpd)) return {{"nll", nll}};
    return {{"bpd", bpd}, {"loglik_nats", nats}};
  }
};

Evaluation evaluate(Nice& model, const Data& data, int64_t batch_size, int64_t seed) {
  torch::NoGradGuard no_grad;
  model->eval();
  at::Generator noise = at::make_generator<at::CPUGeneratorImpl>(seed + 7919);
  double total_log_prob = 0;
  const int64_t n = data.test.size(0);
  for (int64_t start = 0; start < n; start += batch_size) {
    torch::Tensor x = prepare(data, data.test.narrow(0, start, std::min(batch_size, n - start)), noise);
    total_log_prob += model->log_prob(x).sum().item<double>();
  }
  model->train();
  Evaluation e;
  e.nll = -total_log_prob / double(n);
  if (data.images) {
    e.nats = -e.nll;
    e.bpd = bits_per_dim(torch::tensor(-e.nll, torch::kFloat64), data.dim()).item<double>();
  }
  return e;
}

// ----------------------------------------------------------------------------------------------
// Pictures: sample grids for images; samples and learned density for toy sets.

constexpr double kToyExtent = 4.5;

void write_samples(Nice& model, const Data& data, const std::filesystem::path& stem, int64_t n,
                   double temperature, int64_t seed) {
  torch::NoGradGuard no_grad;
  model->eval();
  // The same prior noise at every call, so grids from different steps show the same "seeds".
  at::Generator noise = at::make_generator<at::CPUGeneratorImpl>(seed + 104729);
  if (data.images) {
    torch::Tensor x = model->sample(n, temperature, noise).clamp(0, 1);
    std::vector<int64_t> shape = {n};
    shape.insert(shape.end(), data.image_shape.begin(), data.image_shape.end());
    int64_t per_row = static_cast<int64_t>(std::ceil(std::sqrt(double(n))));
    write_png(stem.string() + ".png", make_grid(x.view(shape).cpu(), per_row));
  } else {
    const int64_t pixels = 256;
    torch::Tensor points = model->sample(std::max<int64_t>(n, 20000), temperature, noise);
    write_png(stem.string() + ".png", scatter_image(points, kToyExtent, pixels));
    torch::Tensor grid = grid_points(kToyExtent, pixels).to(data.train.device());
    torch::Tensor density = model->log_prob(grid).exp().view({pixels, pixels});
    write_png(stem.string() + "_density.png", colormap(density / density.max().clamp_min(1e-12)));
  }
  model->train();
}

// ----------------------------------------------------------------------------------------------

flows::NiceOptions model_options(const NiceConfig& c, int64_t dim) {
  flows::NiceOptions o;
  o.dim = dim;
  o.coupling_layers = c.model.coupling_layers;
  o.hidden = c.model.hidden;
  o.hidden_layers = c.model.hidden_layers;
  o.prior = c.model.prior;
  return o;
}

int train(NiceConfig& c, const Schema& schema, const CommandLine& cli) {
  // Setup: device, seed, data and model first, so that a bad dataset is reported before
  // anything is written; then the run directory.
  torch::Device device = setup_device(c.device, c.run.seed);
  Data data = load_data(c, device, true);
  Nice model(model_options(c, data.dim()));
  model->to(device);
  const bool resuming = !cli.resume_dir.empty();
  Run run = resuming ? Run::open(cli.resume_dir)
                     : Run::create(c.run.out_dir, "nice", c.run.name, schema.to_toml(true), cli.text);
  if (resuming) {
    write_file_atomic(run.dir() / "config.toml", schema.to_toml(true));
    run.mark_resumed(cli.text);
  }
  run.meta().update({{"torch_version", torch_version()}, {"device", device.str()},
                     {"threads", torch::get_num_threads()}, {"seed", c.run.seed},
                     {"data_shape", data.images ? data.image_shape : std::vector<int64_t>{data.dim()}}});
  run.write_meta();
  run.log(fmt::format("run {} | device {} | {} threads", run.dir().string(), device.str(),
                      torch::get_num_threads()));
  run.log(fmt::format("data {}: {} train, {} test, {} dims", c.data.dataset, data.train.size(0),
                      data.test.size(0), data.dim()));

  // Optimizer, EMA, batches, checkpoints.
  auto optimizer = make_optimizer(*model, c.optim);
  std::unique_ptr<Ema> ema = c.optim.ema_decay > 0 ? std::make_unique<Ema>(*model, c.optim.ema_decay) : nullptr;
  BatchSampler sampler(data.train.size(0), c.train.batch_size, static_cast<uint64_t>(c.run.seed));
  CheckpointKeeper checkpoints(run.checkpoints_dir(), c.train.keep_checkpoints);
  TrainingState state;
  const int64_t parameters = parameter_count(*model);

  if (resuming) {
    state = load_checkpoint(checkpoints.last(), *model, ema.get(), optimizer.get(), true);
    sampler.set_position(state.sampler_position);
    run.log(fmt::format("resumed at step {} from {}", state.step, checkpoints.last().string()));
  } else {
    if (c.model.data_init) {
      torch::Tensor rows = data.train.narrow(0, 0, std::min(c.model.data_init_examples, data.train.size(0)));
      model->initialize_from_data(prepare(data, rows, at::detail::getDefaultCPUGenerator()));
      if (ema) ema = std::make_unique<Ema>(*model, c.optim.ema_decay);
    }
    Evaluation initial = evaluate(model, data, c.eval.batch_size, c.run.seed);
    run.append_metrics(0, "eval", initial.json());
    run.log(fmt::format("model: {} parameters | initial test {}", parameters, initial.json().dump()));
  }

  // Training loop.
  install_stop_handlers();
  const int64_t fault_step = nan_fault_step();
  const int64_t total = c.train.steps;
  const double dim = double(data.dim());
  auto due = [&](int64_t every, int64_t step) { return step == total || (every > 0 && step % every == 0); };
  Progress progress(state.step, total);
  std::vector<torch::Tensor> params = model->parameters();
  while (state.step < total) {
    torch::Tensor x = prepare(data, data.train.index_select(0, sampler.next().to(device)),
                              at::detail::getDefaultCPUGenerator());
    double lr = learning_rate_at(c.optim, state.step, total);
    set_learning_rate(*optimizer, lr);
    optimizer->zero_grad();
    torch::Tensor loss = -model->log_prob(x).mean();
    if (state.step + 1 == fault_step) loss = loss * std::numeric_limits<float>::quiet_NaN();
    double loss_value = loss.item<double>();
    if (!std::isfinite(loss_value)) {
      progress.finish_line();
      run.log(fmt::format("non-finite loss ({}) at step {}; stopping. The last good checkpoint is {}",
                          loss_value, state.step + 1, checkpoints.last().string()));
      run.set_status("failed", state.step);
      run.meta()["failure"] = fmt::format("non-finite loss at step {}", state.step + 1);
      run.write_meta();
      return kExitNonFinite;
    }
    loss.backward();
    double grad_norm = clip_grad_norm(params, c.optim.clip_grad_norm);
    optimizer->step();
    if (ema) ema->update(*model);
    state.step += 1;
    state.sampler_position = sampler.position();

    nlohmann::json metrics = {{"loss", loss_value}, {"lr", lr}, {"grad_norm", grad_norm}};
    if (data.images)
      metrics["bpd"] = (loss_value + dim * std::log(256.0)) / (dim * std::log(2.0));
    std::string summary = fmt::format("loss {:.2f}{}", loss_value,
                                      data.images ? fmt::format(" | bpd {:.3f}", metrics["bpd"].get<double>()) : "");
    progress.update(state.step, summary);
    if (due(c.train.log_every, state.step)) {
      run.append_metrics(state.step, "train", metrics);
      run.log(progress.line(state.step, summary), !progress.interactive());
    }

    bool evaluate_now = due(c.train.eval_every, state.step);
    if (evaluate_now) {
      if (ema) ema->swap_into(*model);
      Evaluation e = evaluate(model, data, c.eval.batch_size, c.run.seed);
      if (ema) ema->swap_into(*model);
      run.append_metrics(state.step, "eval", e.json());
      bool improved = e.metric() < state.best_metric;
      if (improved) state.best_metric = e.metric();
      checkpoints.save(*model, ema.get(), optimizer.get(), state);
      if (improved) checkpoints.mark_best();
      progress.finish_line();
      run.log(fmt::format("step {} | test {}{}", state.step, data.images ? fmt::format("bpd {:.4f} | log-likelihood {:.2f} nats", e.bpd, e.nats) : fmt::format("nll {:.4f}", e.nll),
                          improved ? " (best)" : ""));
    } else if (due(c.train.checkpoint_every, state.step)) {
      checkpoints.save(*model, ema.get(), optimizer.get(), state);
    }
    if (due(c.train.sample_every, state.step)) {
      if (ema) ema->swap_into(*model);
      write_samples(model, data, run.samples_dir() / fmt::format("step_{:07d}", state.step), c.sample.n,
                    c.sample.temperature, c.run.seed);
      if (ema) ema->swap_into(*model);
    }
    run.meta()["step"] = state.step;

    if (int signal = stop_signal()) {
      progress.finish_line();
      if (!evaluate_now) checkpoints.save(*model, ema.get(), optimizer.get(), state);
      run.set_status("interrupted", state.step);
      run.log(fmt::format("interrupted by signal {} at step {}; resume with: nice train --resume {}", signal,
                          state.step, run.dir().string()));
      return signal == SIGINT ? kExitSigint : kExitSigterm;
    }
  }
  progress.finish_line();
  run.set_status("finished", state.step);
  run.log(fmt::format("finished {} steps in {} | best test {} {:.4f} | samples in {}", state.step,
                      format_duration(run.elapsed_seconds()), data.images ? "bpd" : "nll",
                      state.best_metric, run.samples_dir().string()));
  return kExitOk;
}

// ----------------------------------------------------------------------------------------------
// Commands on a finished (or running) run.

struct LoadedRun {
  Run run;
  Data data;
  Nice model{nullptr};
  std::filesystem::path checkpoint;
};

LoadedRun load_run(const NiceConfig& c, const std::string& dir) {
  torch::Device device = setup_device(c.device, c.run.seed);
  LoadedRun loaded{Run::open(dir), {}, nullptr, {}};
  loaded.data = load_data(c, device, false);
  loaded.model = Nice(model_options(c, loaded.data.dim()));
  loaded.model->to(device);
  loaded.checkpoint = loaded.run.checkpoints_dir() / (c.sample.checkpoint + ".pt");
  if (!std::filesystem::exists(loaded.checkpoint)) loaded.checkpoint = loaded.run.checkpoints_dir() / "last.pt";
  bool ema = load_weights(loaded.checkpoint, *loaded.model, c.sample.use_ema);
  fmt::print("loaded {}{}\n", loaded.checkpoint.string(), ema ? " (EMA weights)" : "");
  return loaded;
}

int sample(const NiceConfig& c, const CommandLine& cli) {
  LoadedRun r = load_run(c, cli.run_dir);
  int64_t n = cli.integer_option("n").value_or(c.sample.n);
  std::filesystem::path stem = r.run.samples_dir() / fmt::format("sample_t{:.2f}_n{}", c.sample.temperature, n);
  write_samples(r.model, r.data, stem, n, c.sample.temperature, c.run.seed + 1);
  fmt::print("wrote {}.png\n", stem.string());
  return kExitOk;
}

int eval(const NiceConfig& c, const CommandLine& cli) {
  LoadedRun r = load_run(c, cli.run_dir);
  Evaluation e = evaluate(r.model, r.data, c.eval.batch_size, c.run.seed);
  nlohmann::json results = e.json();
  results["checkpoint"] = r.checkpoint.filename().string();
  results["test_examples"] = r.data.test.size(0);
  results["dataset"] = c.data.dataset;
  r.run.write_eval(results);
  fmt::print("{}\nwrote {}\n", results.dump(2), (r.run.dir() / "eval.json").string());
  return kExitOk;
}

torch::Tensor inpaint_mask(const std::string& kind, int64_t n, const std::vector<int64_t>& shape) {
  const int64_t h = shape[1], w = shape[2];
  torch::Tensor observed = torch::ones({n, shape[0], h, w});
  using torch::indexing::Slice;
  if (kind == "bottom_half") observed.index_put_({Slice(), Slice(), Slice(h / 2, h), Slice()}, 0);
  if (kind == "right_half") observed.index_put_({Slice(), Slice(), Slice(), Slice(w / 2, w)}, 0);
  if (kind == "center") observed.index_put_({Slice(), Slice(), Slice(h / 4, 3 * h / 4), Slice(w / 4, 3 * w / 4)}, 0);
  if (kind == "random_half")
    observed = (at::rand({n, shape[0], h, w}, at::make_generator<at::CPUGeneratorImpl>(5)) < 0.5).to(torch::kFloat32);
  return observed.flatten(1);
}

int inpaint(const NiceConfig& c, const CommandLine& cli) {
  LoadedRun r = load_run(c, cli.run_dir);
  if (!r.data.images) throw UsageError("inpaint needs an image dataset, not " + c.data.dataset);
  int64_t n = std::min(cli.integer_option("n").value_or(c.inpaint.n), r.data.test.size(0));
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(c.run.seed + 3);
  torch::Tensor x = prepare(r.data, r.data.test.narrow(0, 0, n), generator);
  torch::Tensor observed = inpaint_mask(c.inpaint.mask, n, r.data.image_shape).to(x.device());
  flows::InpaintOptions options{c.inpaint.steps, c.inpaint.step_scale, c.inpaint.noise};
  torch::Tensor filled = flows::inpaint(r.model, x, observed, options, generator);
  torch::Tensor masked = x * observed + 0.5 * (1 - observed);

  torch::NoGradGuard no_grad;
  auto mean_bpd = [&](const torch::Tensor& images) {
    return bits_per_dim(r.model->log_prob(images), r.data.dim()).mean().item<double>();
  };
  std::vector<int64_t> shape = {n};
  shape.insert(shape.end(), r.data.image_shape.begin(), r.data.image_shape.end());
  torch::Tensor rows = torch::cat({x, masked, filled}).view({3 * n, shape[1], shape[2], shape[3]}).cpu();
  std::filesystem::path path = r.run.samples_dir() / fmt::format("inpaint_{}.png", c.inpaint.mask);
  write_png(path, make_grid(rows, n));
  fmt::print("bpd of originals {:.3f} | inpainted {:.3f} | rows: original, masked, inpainted\nwrote {}\n",
             mean_bpd(x), mean_bpd(filled), path.string());
  return kExitOk;
}

int bench(NiceConfig& c, const CommandLine& cli) {
  torch::Device device = setup_device(c.device, c.run.seed);
  int64_t steps = cli.integer_option("steps").value_or(20);
  Data data = load_data(c, device, true);
  Nice model(model_options(c, data.dim()));
  model->to(device);
  auto optimizer = make_optimizer(*model, c.optim);
  BatchSampler sampler(data.train.size(0), c.train.batch_size, static_cast<uint64_t>(c.run.seed));
  auto train_step = [&] {
    torch::Tensor x = prepare(data, data.train.index_select(0, sampler.next().to(device)),
                              at::detail::getDefaultCPUGenerator());
    optimizer->zero_grad();
    torch::Tensor loss = -model->log_prob(x).mean();
    loss.backward();
    optimizer->step();
  };
  auto seconds = [&](const std::function<void()>& work, int64_t repeats) { return timed_seconds(work, repeats, device); };
  double train_seconds = seconds(train_step, steps);
  at::Generator noise = at::make_generator<at::CPUGeneratorImpl>(1);
  torch::NoGradGuard no_grad;
  const int64_t sample_batch = 1000;
  double sample_seconds = seconds([&] { model->sample(sample_batch, 1.0, noise); }, std::max<int64_t>(steps / 4, 2));
  const int64_t parameters = parameter_count(*model);
  nlohmann::json result = {
      {"experiment", "nice"},
      {"device", device.str()},
      {"threads", torch::get_num_threads()},
      {"dataset", c.data.dataset},
      {"parameters", parameters},
      {"batch_size", c.train.batch_size},
      {"train_steps_per_s", double(steps) / train_seconds},
      {"train_examples_per_s", double(steps * c.train.batch_size) / train_seconds},
      {"samples_per_s", double(std::max<int64_t>(steps / 4, 2) * sample_batch) / sample_seconds},
  };
  fmt::print("{}\n", result.dump());
  return kExitOk;
}

int main(int argc, char** argv) {
  const std::vector<CommandSpec> commands = {
      {"train", false, {}, "train a NICE flow (built-in defaults: a few CPU minutes on Fashion-MNIST)"},
      {"sample", true, {"n"}, "write a grid of samples into RUN_DIR/samples/"},
      {"eval", true, {}, "test bits/dim and log-likelihood into RUN_DIR/eval.json"},
      {"inpaint", true, {"n"}, "complete hidden pixels of test images; grid into RUN_DIR/samples/"},
      {"bench", false, {"steps"}, "train steps/s and samples/s, one JSON line"},
  };
  NiceConfig config;
  Schema schema = describe(config);
  return run_program(argc, argv, "nice", commands, schema, [&](const CommandLine& cli) {
    if (cli.command == "train") return train(config, schema, cli);
    if (cli.command == "sample") return sample(config, cli);
    if (cli.command == "eval") return eval(config, cli);
    if (cli.command == "inpaint") return inpaint(config, cli);
    return bench(config, cli);
  });
}
