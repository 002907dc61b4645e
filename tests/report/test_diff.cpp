#include <doctest/doctest.h>

#include <stdexcept>

#include "report/diff.hpp"

using namespace genbox::report;

TEST_CASE("TOML flattens to dotted keys with values as TOML text") {
  FlatConfig flat = flatten_toml(R"(
title = "top"
[run]
name = "base"
seed = 0
[optim]
lr = 3e-4
decay = 1.0
betas = [0.9, 0.999]
nesterov = false
[model.encoder]
dims = [64, 128]
names = ["a", "b\"c"]
[model.encoder.attention]
heads = 4
[[data.sources]]
path = "x.idx"
weight = 2
[[data.sources]]
path = "y.idx"
[schedule]
warmup = { steps = 100, from = 0.1 }
started = 2024-01-01T12:00:00Z
)",
                                 "inline.toml");
  CHECK(flat == FlatConfig{
                    {"title", "top"},
                    {"run.name", "base"},
                    {"run.seed", "0"},
                    {"optim.lr", "0.0003"},
                    {"optim.decay", "1.0"},
                    {"optim.betas", "[0.9, 0.999]"},
                    {"optim.nesterov", "false"},
                    {"model.encoder.dims", "[64, 128]"},
                    {"model.encoder.names", R"(["a", "b\"c"])"},
                    {"model.encoder.attention.heads", "4"},
                    {"data.sources", R"([{path = "x.idx", weight = 2}, {path = "y.idx"}])"},
                    {"schedule.warmup.from", "0.1"},
                    {"schedule.warmup.steps", "100"},
                    {"schedule.started", "2024-01-01T12:00:00Z"},
                });
}

TEST_CASE("a TOML error names the source, line and column") {
  CHECK_THROWS_WITH_AS(flatten_toml("[a]\nx = 1\ny = \n", "run/config.toml"), doctest::Contains("run/config.toml:3:"),
                       std::runtime_error);
}

TEST_CASE("differing keys: changed values, nested keys, arrays and keys some runs lack") {
  FlatConfig base = {{"run.name", "a"},
                     {"optim.lr", "0.001"},
                     {"model.dims", "[64, 128]"},
                     {"model.enc.heads", "4"},
                     {"train.steps", "100"}};
  FlatConfig other = base;
  other["run.name"] = "b";
  other["model.dims"] = "[64, 128, 256]";
  other["model.enc.heads"] = "8";
  FlatConfig extended = base;
  extended["sample.steps"] = "50";

  CHECK(differing_keys({&base, &other}) == std::vector<std::string>{"model.dims", "model.enc.heads", "run.name"});
  CHECK(differing_keys({&base, &extended}) == std::vector<std::string>{"sample.steps"});
  CHECK(differing_keys({&base, &other, &extended}) ==
        std::vector<std::string>{"model.dims", "model.enc.heads", "run.name", "sample.steps"});
  CHECK(differing_keys({&base, &base}).empty());
  CHECK(differing_keys({&base}).empty());
  CHECK(differing_keys({}).empty());
}

TEST_CASE("an integer and a float setting of the same value differ") {
  FlatConfig as_int = flatten_toml("[optim]\nclip = 1\n", "a.toml");
  FlatConfig as_float = flatten_toml("[optim]\nclip = 1.0\n", "b.toml");
  CHECK(differing_keys({&as_int, &as_float}) == std::vector<std::string>{"optim.clip"});
}
