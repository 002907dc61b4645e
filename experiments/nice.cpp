// NICE: an additive-coupling normalizing flow trained by exact maximum likelihood
// (Dinh, Krueger, Bengio 2014), on Fashion-MNIST, any IDX image set, or toy 2D data.
//
//   nice train [-c FILE.toml] [key=value ...] [--resume RUN_DIR]
//   nice sample RUN_DIR [--n N] [sample.temperature=0.8]
//   nice eval RUN_DIR           test bits/dim and log-likelihood into eval.json
//   nice inpaint RUN_DIR        fill hidden pixels of test images by gradient ascent on log p
//   nice bench [key=value ...]  train steps/s and samples/s as one JSON line
#include <fmt/format.h>

#include <torch/torch.h>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "base/cli.hpp"
#include "base/config.hpp"
#include "base/errors.hpp"
#include "base/fsutil.hpp"
#include "base/settings.hpp"
#include "common/data/batches.hpp"
#include "common/data/sources.hpp"
#include "common/data/toy2d.hpp"
#include "common/device.hpp"
#include "common/images.hpp"
#include "common/likelihood.hpp"
#include "common/optim.hpp"
#include "common/program.hpp"
#include "common/training.hpp"
#include "common/weights_export.hpp"
#include "experiments/nice_config.hpp"
#include "flows/inpaint.hpp"
#include "flows/nice.hpp"

using namespace genbox;
using genbox::flows::Nice;

// ----------------------------------------------------------------------------------------------
// Data: images stay uint8 [N, D] and are dequantized per batch; toy sets are float [N, 2].

using Data = SourceData;

Data load_data(const NiceConfig& c, torch::Device device, bool need_train) {
  Data data = load_source(c.data, c.run.seed, device, need_train, c.eval.limit);
  data.train = data.train.flatten(1);
  data.test = data.test.flatten(1);
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

Evaluation evaluate(Nice& model, const Data& data, int64_t batch_size, int64_t seed, const std::string& precision) {
  torch::NoGradGuard no_grad;
  model->eval();
  at::Generator noise = at::make_generator<at::CPUGeneratorImpl>(seed + 7919);
  double total_log_prob = 0;
  const int64_t n = data.test.size(0);
  for (int64_t start = 0; start < n; start += batch_size) {
    torch::Tensor x = prepare(data, data.test.narrow(0, start, std::min(batch_size, n - start)), noise);
    total_log_prob += log_prob_in_precision(model, x, precision).sum().item<double>();
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

void write_samples(Nice& model, const Data& data, const std::filesystem::path& stem, int64_t n, double temperature,
                   int64_t seed) {
  torch::NoGradGuard no_grad;
  model->eval();
  // The same prior noise at every call, so grids from different steps show the same "seeds".
  at::Generator noise = at::make_generator<at::CPUGeneratorImpl>(seed + 104729);
  if (data.images) {
    torch::Tensor x = model->sample(n, temperature, noise).clamp(0, 1);
    std::vector<int64_t> shape = {n};
    shape.insert(shape.end(), data.shape.begin(), data.shape.end());
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
  flows::NiceOptions o = c.model;
  o.dim = dim;
  return o;
}

std::string describe_eval(const Evaluation& e) {
  return std::isnan(e.bpd) ? fmt::format("test nll {:.4f}", e.nll)
                           : fmt::format("test bpd {:.4f} | log-likelihood {:.2f} nats", e.bpd, e.nats);
}

int train(NiceConfig& c, const Schema& schema, const CommandLine& cli) {
  // Setup: device, processes, data and model first, so that a bad dataset is reported before
  // anything is written.
  torch::Device device = setup_device(c.device, c.run.seed);
  World world = join_world(c.distributed, device);
  world.local_batch(c.train.batch_size, "train.batch_size");
  Data data = load_data(c, device, true);
  Nice model(model_options(c, data.dim()));
  model->to(device);
  if (c.init.data_init && cli.resume_dir.empty()) {
    torch::Tensor rows = data.train.narrow(0, 0, std::min(c.init.data_init_examples, data.train.size(0)));
    model->initialize_from_data(prepare(data, rows, at::detail::getDefaultCPUGenerator()));
  }
  auto optimizer = make_optimizer(*model, c.optim);
  std::unique_ptr<Ema> ema = c.optim.ema_decay > 0 ? std::make_unique<Ema>(*model, c.optim.ema_decay) : nullptr;
  BatchSampler sampler(data.train.size(0), c.train.batch_size, static_cast<uint64_t>(c.run.seed));

  nlohmann::json meta = {{"data_shape", data.shape}, {"data", data.meta}};
  TrainingRun t(run_spec("nice", schema, cli, c, device, meta), world, *model, *optimizer, ema.get(), sampler);
  t.log(fmt::format("data {}: {} train, {} test, {} dims | model: {} parameters", c.data.dataset, data.train.size(0),
                    data.test.size(0), data.dim(), parameter_count(*model)));
  auto record = [&](const Evaluation& e) {
    return t.record_eval(e.json(), e.metric(), Better::kLower, describe_eval(e));
  };
  if (!t.resumed() && data.images && t.evaluates()) write_training_preview(data, t.samples_dir(), c.run.seed);
  if (!t.resumed())
    record(t.evaluates() ? evaluate(model, data, c.eval.batch_size, c.run.seed, c.device.precision) : Evaluation{});

  // Training loop: every rank draws the global batch and its noise, then keeps its own rows.
  const double dim = double(data.dim());
  while (t.running()) {
    torch::Tensor x =
        world.shard(prepare(data, train_rows(data, sampler.next().to(device), at::detail::getDefaultCPUGenerator()),
                            at::detail::getDefaultCPUGenerator()));
    t.begin_step();
    for (int64_t m = 0; m < t.micro_batches(); ++m)
      t.backward(-log_prob_in_precision(model, t.micro_batch(x, m), c.device.precision).mean());
    double loss_value = t.read_loss();
    if (!std::isfinite(loss_value)) return t.stop_non_finite(loss_value);
    t.finish_step();

    nlohmann::json metrics = {{"loss", loss_value}};
    if (data.images) metrics["bpd"] = (loss_value + dim * std::log(256.0)) / (dim * std::log(2.0));
    std::string summary = fmt::format("loss {:.2f}{}", loss_value,
                                      data.images ? fmt::format(" | bpd {:.3f}", metrics["bpd"].get<double>()) : "");
    t.show_progress(summary);
    if (t.due(c.train.log_every)) t.log_train(metrics, summary);

    if (t.due(c.train.eval_every)) {
      Evaluation e;
      if (t.evaluates()) {
        EmaWeights averaged(t);
        e = evaluate(model, data, c.eval.batch_size, c.run.seed, c.device.precision);
      }
      record(e);
    } else if (t.due(c.train.checkpoint_every)) {
      t.save_checkpoint();
    }
    if (t.due(c.train.sample_every) && t.evaluates()) {
      EmaWeights averaged(t);
      write_samples(model, data, t.samples_dir() / fmt::format("step_{:07d}", t.step()), c.sample.n,
                    c.sample.temperature, c.run.seed);
    }
    if (std::optional<int> code = t.stop_requested()) return *code;
  }
  return t.finish(fmt::format("best test {} {:.4f} | samples in {}", data.images ? "bpd" : "nll", t.best_metric(),
                              t.samples_dir().string()));
}

// ----------------------------------------------------------------------------------------------
// Commands on a finished (or running) run.

struct LoadedRun {
  OpenedRun opened;
  Data data;
  Nice model{nullptr};
};

LoadedRun load_run(const NiceConfig& c, const std::string& dir) {
  torch::Device device = setup_device(c.device, c.run.seed);
  LoadedRun loaded{open_run(dir, c.sample.checkpoint), load_data(c, device, false), nullptr};
  loaded.model = Nice(model_options(c, loaded.data.dim()));
  loaded.model->to(device);
  load_run_weights(loaded.opened, *loaded.model, c.sample.use_ema);
  return loaded;
}

int sample(const NiceConfig& c, const CommandLine& cli) {
  LoadedRun r = load_run(c, cli.run_dir);
  int64_t n = cli.integer_option("n").value_or(c.sample.n);
  std::filesystem::path stem = r.opened.run.samples_dir() / fmt::format("sample_t{:.2f}_n{}", c.sample.temperature, n);
  write_samples(r.model, r.data, stem, n, c.sample.temperature, c.run.seed + 1);
  fmt::print("wrote {}.png\n", stem.string());
  if (std::optional<int64_t> count = cli.integer_option("images"); count && r.data.images) {
    // One file per sample, for `fid score` (drawn from their own seed, not the grid's).
    at::Generator noise = at::make_generator<at::CPUGeneratorImpl>(c.run.seed + 2);
    torch::NoGradGuard no_grad;
    r.model->eval();
    std::vector<int64_t> shape = {*count};
    shape.insert(shape.end(), r.data.shape.begin(), r.data.shape.end());
    const std::filesystem::path dir = r.opened.run.samples_dir() / fmt::format("images_t{:.2f}", c.sample.temperature);
    write_png_folder(dir, r.model->sample(*count, c.sample.temperature, noise).clamp(0, 1).view(shape));
    fmt::print("wrote {} images into {}\n", *count, dir.string());
  }
  return kExitOk;
}

int eval(const NiceConfig& c, const CommandLine& cli) {
  LoadedRun r = load_run(c, cli.run_dir);
  Evaluation e = evaluate(r.model, r.data, c.eval.batch_size, c.run.seed, c.device.precision);
  nlohmann::json results = e.json();
  results["checkpoint"] = r.opened.checkpoint.filename().string();
  results["test_examples"] = r.data.test.size(0);
  results["dataset"] = c.data.dataset;
  fmt::print("{}\nwrote {}\n", results.dump(2), r.opened.run.write_eval(results).string());
  return kExitOk;
}

int inpaint(const NiceConfig& c, const CommandLine& cli) {
  LoadedRun r = load_run(c, cli.run_dir);
  if (!r.data.images) throw UsageError("inpaint needs an image dataset, not " + c.data.dataset);
  int64_t n = std::min(cli.integer_option("n").value_or(c.inpaint.n), r.data.test.size(0));
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(c.run.seed + 3);
  torch::Tensor x = prepare(r.data, r.data.test.narrow(0, 0, n), generator);
  torch::Tensor observed = flows::inpaint_mask(c.inpaint.mask, n, r.data.shape).to(x.device());
  torch::Tensor filled = flows::inpaint(r.model, x, observed, c.inpaint, generator);
  torch::Tensor masked = x * observed + 0.5 * (1 - observed);

  torch::NoGradGuard no_grad;
  auto mean_bpd = [&](const torch::Tensor& images) {
    return bits_per_dim(r.model->log_prob(images), r.data.dim()).mean().item<double>();
  };
  std::vector<int64_t> shape = {n};
  shape.insert(shape.end(), r.data.shape.begin(), r.data.shape.end());
  torch::Tensor rows = torch::cat({x, masked, filled}).view({3 * n, shape[1], shape[2], shape[3]}).cpu();
  std::filesystem::path path = r.opened.run.samples_dir() / fmt::format("inpaint_{}.png", c.inpaint.mask);
  write_png(path, make_grid(rows, n));
  fmt::print("bpd of originals {:.3f} | inpainted {:.3f} | rows: original, masked, inpainted\nwrote {}\n", mean_bpd(x),
             mean_bpd(filled), path.string());
  return kExitOk;
}

// The checkpoint read as sample reads it, into a model built on the CPU: no device is needed.
int export_weights(const NiceConfig& c, const CommandLine& cli) {
  OpenedRun opened = open_run(cli.run_dir, c.sample.checkpoint);
  Nice model(model_options(c, load_data(c, torch::kCPU, false).dim()));
  export_safetensors(opened, *model, "nice", cli.files.at("safetensors"));
  return kExitOk;
}

int bench(NiceConfig& c, const CommandLine& cli) {
  torch::Device device = setup_device(c.device, c.run.seed);
  World world = join_world(c.distributed, device);
  const int64_t local_batch = world.local_batch(c.train.batch_size, "train.batch_size");
  int64_t steps = cli.integer_option("steps").value_or(20);
  Data data = load_data(c, device, true);
  Nice model(model_options(c, data.dim()));
  model->to(device);
  world.broadcast_module(*model);
  auto optimizer = make_optimizer(*model, c.optim);
  GradientAverager averager(world, model->parameters(), c.distributed.bucket_mb << 20);
  BatchSampler sampler(data.train.size(0), c.train.batch_size, static_cast<uint64_t>(c.run.seed));
  auto train_step = [&] {
    torch::Tensor x =
        world.shard(prepare(data, train_rows(data, sampler.next().to(device), at::detail::getDefaultCPUGenerator()),
                            at::detail::getDefaultCPUGenerator()));
    optimizer->zero_grad();
    torch::Tensor loss = -log_prob_in_precision(model, x, c.device.precision).mean();
    loss.backward();
    averager.finish();
    optimizer->step();
  };
  // The step timed in blocks alternating with its own matmuls alone (common/matmul.hpp).
  const std::vector<MatmulShape> matmuls = flows::nice_train_matmuls(model->options(), local_batch);
  const StepAgainstMatmuls timing =
      time_step_against_matmuls(train_step, steps, total_flops(matmuls), matmuls,
                                compute_dtype(c.device.precision, device), device, [&] { world.barrier(); });
  const double train_seconds = timing.step_seconds;
  at::Generator noise = at::make_generator<at::CPUGeneratorImpl>(1);
  torch::NoGradGuard no_grad;
  const int64_t sample_batch = 1000, sample_repeats = std::max<int64_t>(steps, 2);
  double sample_seconds = timed_seconds([&] { model->sample(sample_batch, 1.0, noise); }, sample_repeats, device);
  nlohmann::json result = {{"experiment", "nice"},
                           {"device", device.str()},
                           {"threads", torch::get_num_threads()},
                           {"precision", c.device.precision},
                           {"dataset", c.data.dataset},
                           {"parameters", parameter_count(*model)},
                           {"batch_size", c.train.batch_size},
                           {"train_steps_per_s", double(steps) / train_seconds}};
  result.update(matmul_figures(timing, total_flops(matmuls), steps));
  const double local = double(local_batch);
  print_bench(world, result,
              {{"train_examples_per_s", {double(steps) * local, train_seconds}},
               {"samples_per_s", {double(sample_repeats * sample_batch), sample_seconds}}});
  return kExitOk;
}

int main(int argc, char** argv) {
  const std::vector<CommandSpec> commands = {
      {"train", false, {}, "train a NICE flow (built-in defaults: a few CPU minutes on Fashion-MNIST)"},
      {"sample",
       true,
       {{"n", 1, 100000, "samples in the grid"}, {"images", 1, 10000000, "also write this many as PNG files"}},
       "write a grid of samples (and with --images, one file each) into RUN_DIR/samples/"},
      {"eval", true, {}, "test bits/dim and log-likelihood into RUN_DIR/eval.json"},
      {"inpaint",
       true,
       {{"n", 1, 1000, "test images to inpaint"}},
       "complete hidden pixels of test images; grid into RUN_DIR/samples/"},
      export_command(),
      sweep_command(),
      {"bench", false, {{"steps", 1, 100000, "timed train steps"}}, "train steps/s and samples/s, one JSON line"},
  };
  NiceConfig config;
  Schema schema = describe(config);
  return run_program(argc, argv, "nice", commands, schema, [&](const CommandLine& cli) {
    if (cli.command == "train") return train(config, schema, cli);
    if (cli.command == "sample") return sample(config, cli);
    if (cli.command == "eval") return eval(config, cli);
    if (cli.command == "inpaint") return inpaint(config, cli);
    if (cli.command == "export") return export_weights(config, cli);
    return bench(config, cli);
  });
}
