// End-to-end: `<exp> export RUN --safetensors FILE` on a tiny run of each experiment. The files
// hold the checkpoint's model and EMA tensors under the model's state-dict names, with the run's
// facts as metadata, and Python loads them strictly into the PyTorch reference models.
#include <doctest/doctest.h>

#include <torch/serialize.h>

#include <nlohmann/json.hpp>

#include "common/safetensors.hpp"
#include "common/weights_export.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {

struct Experiment {
  std::string name;
  std::string train;     // settings of a tiny run with EMA weights, given the data root
  nlohmann::json build;  // what bench/load_safetensors.py needs beyond the run's config
};

std::vector<Experiment> experiments(const std::filesystem::path& root) {
  const std::string idx = " data.dataset=idx data.root=" + root.string();
  return {
      {"nice",
       " data.dataset=two_moons data.toy_size=500 model.hidden=16 model.hidden_layers=1 train.batch_size=64"
       " train.steps=4 train.eval_every=2 optim.ema_decay=0.9 device.threads=1",
       {{"experiment", "nice"}, {"args", {2}}}},
      {"rf_dit",
       idx + " model.width=32 model.depth=1 model.heads=2 model.patch=2 train.steps=4 train.batch_size=8"
             " train.eval_every=2 optim.ema_decay=0.9 device.threads=1",
       {{"experiment", "rf_dit"}, {"args", {8, 1, 4}}}},
      {"detr",
       " data.root=" + root.string() +
           " data.height=32 data.width=32 data.min_height=24 data.train_scenes=8 data.test_scenes=4"
           " eval.batch_size=4 model.width=16 model.heads=2 model.ffn=32 model.encoder_layers=1"
           " model.decoder_layers=2 model.backbone_channels=[8,16] model.output_stride=4 model.num_queries=6"
           " train.steps=4 train.batch_size=4 train.eval_every=2 optim.ema_decay=0.9 device.threads=1",
       {{"experiment", "detr"}, {"options", {{"data.num_classes", 4}, {"model.image_channels", 1}}}}},
  };
}

}  // namespace

TEST_CASE("export --safetensors writes a run's model and EMA weights by their state-dict names") {
  TempDir out;
  write_tiny_item_set(out.path());
  for (const Experiment& e : experiments(out.path())) {
    CAPTURE(e.name);
    auto train = run_command(binary(e.name) + " train" + e.train + " run.out_dir=" + out.path().string());
    INFO(train.output);
    REQUIRE(train.exit_code == 0);
    const std::filesystem::path run = only_run(out.path(), e.name);
    const std::filesystem::path file = out / (e.name + ".safetensors");
    auto exported = run_command(binary(e.name) + " export " + run.string() + " --safetensors " + file.string() +
                                " sample.checkpoint=last");
    INFO(exported.output);
    REQUIRE(exported.exit_code == 0);
    REQUIRE(std::filesystem::exists(file));
    REQUIRE(std::filesystem::exists(ema_safetensors_path(file)));
    CHECK(ema_safetensors_path(file).filename() == e.name + ".ema.safetensors");

    // Both files: the checkpoint's tensors under "model/" and "ema/", same names, same bytes.
    const auto checkpoint = checkpoint_tensors(run / "checkpoints" / "last.pt");
    const auto meta = nlohmann::json::parse(read_text(run / "meta.json"));
    for (const auto& [path, prefix] : {std::pair{file, std::string("model/")}, {ema_safetensors_path(file), "ema/"}}) {
      CAPTURE(path.string());
      const Safetensors read = read_safetensors(path);
      size_t in_checkpoint = 0;
      for (const auto& item : checkpoint) in_checkpoint += item.first.rfind(prefix, 0) == 0;
      CHECK(read.tensors.size() == in_checkpoint);
      for (const auto& [name, tensor] : read.tensors) {
        CAPTURE(name);
        REQUIRE(checkpoint.count(prefix + name));
        CHECK(torch::equal(tensor, checkpoint.at(prefix + name)));
      }
      CHECK(read.metadata.at("format") == "pt");
      CHECK(read.metadata.at("experiment") == e.name);
      CHECK(read.metadata.at("run") == run.filename().string());
      CHECK(read.metadata.at("checkpoint") == "last.pt");
      CHECK(read.metadata.at("step") == "4");
      CHECK(read.metadata.at("weights") == (prefix == "ema/" ? "ema" : "model"));
      CHECK(read.metadata.at("genbox_commit") == meta["git_commit"].get<std::string>());
      CHECK(read.metadata.at("config_toml") == read_text(run / "config.toml"));
    }
    CHECK(exported.output.find("wrote " + file.string() + " (model weights of step 4)") != std::string::npos);

    if (reference_python().empty()) {
      MESSAGE("skipped the Python check: no venv Python with torch (scripts/setup installs it)");
    } else {
      // The reference model is built from the file's config_toml and loads every tensor by name,
      // strictly; the file is read without the safetensors package (and with it, when installed).
      write_text(out / "build.json", e.build.dump());
      for (const std::filesystem::path& path : {file, ema_safetensors_path(file)}) {
        auto loaded =
            run_command(reference_python() + " " + (source_dir() / "bench" / "load_safetensors.py").string() + " " +
                        path.string() + " " + (out / "read.pt").string() + " " + (out / "build.json").string());
        INFO(loaded.output);
        CHECK(loaded.exit_code == 0);
      }
    }
    std::filesystem::remove_all(out / e.name);
  }
}

TEST_CASE("export without --safetensors, or into a missing directory, is one line and its exit code") {
  TempDir out;
  auto train = run_command(binary("nice") +
                           " train data.dataset=two_moons data.toy_size=500 model.hidden=8 model.hidden_layers=1"
                           " train.steps=2 train.eval_every=2 device.threads=1 run.out_dir=" +
                           out.path().string());
  REQUIRE(train.exit_code == 0);
  const std::filesystem::path run = only_run(out.path(), "nice");
  auto missing = run_command(binary("nice") + " export " + run.string());
  CHECK(missing.exit_code == 2);
  CHECK(missing.output.find("--safetensors") != std::string::npos);
  auto unwritable = run_command(binary("nice") + " export " + run.string() + " --safetensors " +
                                (out / "no/such/dir/w.safetensors").string());
  CHECK(unwritable.exit_code == 3);
  CHECK(unwritable.output.find("w.safetensors") != std::string::npos);
  // Without EMA weights there is one file.
  auto plain =
      run_command(binary("nice") + " export " + run.string() + " --safetensors=" + (out / "w.safetensors").string());
  INFO(plain.output);
  CHECK(plain.exit_code == 0);
  CHECK(std::filesystem::exists(out / "w.safetensors"));
  CHECK_FALSE(std::filesystem::exists(out / "w.ema.safetensors"));
}
