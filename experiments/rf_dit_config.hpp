// `rf_dit`'s config: every key, its default, range and doc, in one place. The description
// drives parsing, validation, --print-config and the README's key table; defaults live in the
// library option structs the sections bind, or here for the program's own keys.
#pragma once

#include <fmt/format.h>

#include "base/config.hpp"
#include "base/settings.hpp"
#include "common/data/sources.hpp"
#include "common/distributed.hpp"
#include "diffusion/classifier.hpp"
#include "diffusion/dit.hpp"
#include "diffusion/quality_eval.hpp"
#include "diffusion/rectified_flow.hpp"
#include "diffusion/velocity_model.hpp"
#include "metrics/fid_settings.hpp"
#include "vae/latent_space.hpp"

namespace genbox {

struct RfConfig {
  RunSettings run;
  DeviceSettings device;
  DistributedSettings distributed;
  DataSource data;
  vae::LatentSettings latents;
  struct {
    std::string preset = "tiny";
    int64_t width = 0, depth = 0, heads = 0, patch = 0;
    diffusion::DitOptions dit;  // mlp_ratio, qk_norm and mlp; the rest comes from the preset and the data
    bool conditional = true;
    double label_dropout = 0.1;
    int64_t toy_hidden = 128;
    int64_t toy_layers = 3;
  } model;
  diffusion::TimestepSampling flow;
  TrainSettings train;
  OptimSettings optim;
  struct : diffusion::SamplingOptions {
    int64_t per_class = 8;
    bool use_ema = true;
    std::string checkpoint = "last";
  } sample;
  diffusion::EvalSettings eval;
  diffusion::ClassifierTraining classifier;
  metrics::FidSettings fid;
};

inline Schema describe(RfConfig& c) {
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
  describe(s, c.distributed);
  describe(s, c.data);
  vae::describe(s, c.latents);
  s.add_choice("model.preset", c.model.preset, {"tiny", "small", "base"},
               "DiT size: tiny (CPU), small (DiT-S), base (DiT-B)");
  s.add("model.width", c.model.width, 0, 65536, "token width; 0: the preset's");
  s.add("model.depth", c.model.depth, 0, 1024, "transformer blocks; 0: the preset's");
  s.add("model.heads", c.model.heads, 0, 1024, "attention heads; 0: the preset's");
  s.add("model.patch", c.model.patch, 0, 64, "patch size; 0: the preset's");
  s.add("model.mlp_ratio", c.model.dit.mlp_ratio, 1, 64, "MLP hidden width / token width");
  s.add("model.qk_norm", c.model.dit.qk_norm, "RMSNorm on queries and keys (SD3)");
  s.add_choice("model.mlp", c.model.dit.mlp, {"gelu_tanh", "swiglu"}, "block MLP");
  s.add("model.conditional", c.model.conditional, "class-conditional (with guidance) or unconditional");
  s.add("model.label_dropout", c.model.label_dropout, 0.0, 1.0, "labels replaced by the null class while training");
  s.add("model.toy_hidden", c.model.toy_hidden, 1, 65536, "hidden width of the toy 2D velocity MLP");
  s.add("model.toy_layers", c.model.toy_layers, 1, 64, "hidden layers of the toy 2D velocity MLP");
  s.add_choice("flow.timesteps", c.flow.kind, {"logit_normal", "uniform", "mode", "cosmap"},
               "training timestep density (SD3 section 3.1)");
  s.add("flow.logit_mean", c.flow.mean, -10.0, 10.0, "logit-normal location m");
  s.add("flow.logit_std", c.flow.stddev, 1e-3, 10.0, "logit-normal scale s");
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
  s.add("eval.classifier", c.eval.classifier,
        "checkpoint written by `rf_dit classifier` and read by eval; a relative path is under the output directory "
        "(run.out_dir, or for eval the one RUN_DIR is in)");
  s.add("eval.fd_samples", c.eval.fd_samples, 10, 1000000, "generated and test images per Frechet distance");
  s.add("eval.fid_samples", c.eval.fid_samples, 0, 10000000,
        "generated images per FID in eval's sweep and while training (50000 in papers); 0: no FID");
  s.add("eval.fid_reference", c.eval.fid_reference, 0, 100000000,
        "training images behind FID's reference statistics (features cached); 0: all, as papers");
  s.add("eval.fid_every", c.eval.fid_every, 0, 1000000000,
        "steps between FIDs while training, a multiple of train.eval_every (eval.fid_samples at the sample.* "
        "settings); 0: none");
  s.add("eval.steps", c.eval.steps, 1, 10000, "sampling steps swept by eval");
  s.add("eval.guidance", c.eval.guidance, 0.0, 100.0, "guidance scales swept by eval");
  s.add("eval.likelihood_images", c.eval.likelihood_images, 0, 1000000, "test images for bits/dim; 0: skip");
  s.add("eval.likelihood_steps", c.eval.likelihood_steps, 1, 100000, "Heun steps of the probability-flow ODE");
  s.add("eval.batch_size", c.eval.batch_size, 1, 100000, "images per forward pass in eval");
  s.add("classifier.epochs", c.classifier.epochs, 1, 1000, "training epochs of the FD classifier");
  s.add("classifier.batch_size", c.classifier.batch_size, 1, 100000, "classifier batch size");
  s.add("classifier.lr", c.classifier.lr, 0.0, 10.0, "classifier Adam learning rate");
  metrics::describe(s, c.fid);
  s.add_check([&c] {
    diffusion::DitOptions o =
        diffusion::with_preset(c.model.dit, c.model.preset, c.model.width, c.model.depth, c.model.heads, c.model.patch);
    if (o.width % o.heads != 0)
      throw ConfigError(fmt::format("model.width = {} must be divisible by model.heads = {}", o.width, o.heads));
    if (c.eval.fid_every > 0 && (c.train.eval_every == 0 || c.eval.fid_every % c.train.eval_every != 0))
      throw ConfigError(fmt::format("eval.fid_every = {} must be a multiple of train.eval_every = {}", c.eval.fid_every,
                                    c.train.eval_every));
    if (c.eval.fid_every > 0 && c.eval.fid_samples == 0)
      throw ConfigError("eval.fid_every needs eval.fid_samples > 0 (the images per FID)");
    if (c.eval.steps.empty() || c.eval.guidance.empty())
      throw ConfigError("eval.steps and eval.guidance must each hold at least one value");
  });
  return s;
}

}  // namespace genbox
