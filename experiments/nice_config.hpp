// `nice`'s config: every key, its default, range and doc, in one place. The description
// drives parsing, validation, --print-config and the README's key table; defaults live in the
// library option structs the sections bind, or here for the program's own keys.
#pragma once

#include "base/config.hpp"
#include "base/settings.hpp"
#include "common/data/sources.hpp"
#include "common/distributed.hpp"
#include "flows/inpaint.hpp"
#include "flows/nice.hpp"

namespace genbox {

struct NiceConfig {
  RunSettings run;
  DeviceSettings device;
  DistributedSettings distributed;
  DataSource data;
  flows::NiceOptions model;
  struct {
    bool data_init = true;
    int64_t data_init_examples = 2000;
  } init;
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
  flows::InpaintOptions inpaint;
};

inline Schema describe(NiceConfig& c) {
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
  describe(s, c.distributed);
  describe(s, c.data);
  s.add("model.coupling_layers", c.model.coupling_layers, 1, 64, "additive coupling layers (partitions alternate)");
  s.add("model.hidden", c.model.hidden, 1, 65536, "width of each coupling MLP's hidden layers");
  s.add("model.hidden_layers", c.model.hidden_layers, 0, 64, "hidden ReLU layers per coupling MLP");
  s.add_choice("model.prior", c.model.prior, {"logistic", "gaussian"}, "factorised prior on z");
  s.add("model.data_init", c.init.data_init, "initialise couplings as identity and the scaling from data");
  s.add("model.data_init_examples", c.init.data_init_examples, 2, 1000000, "training examples used by data_init");
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
  s.add("inpaint.noise", c.inpaint.noise, 0.0, 1e6,
        "std of the noise added to the normalised gradient (the paper adds 1)");
  return s;
}

}  // namespace genbox
