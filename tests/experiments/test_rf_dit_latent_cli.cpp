// End to end: rf_dit in a VAE's latent space (data.latents.vae) on a tiny CIFAR-10 set, with a
// random tiny VAE written by `vae init`: latents of the right shape, cached, decoded grids and
// sample files in pixels, FID of the decoded samples, latent bits/dim, exact resume, and the
// set-ups it refuses before anything is written.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/data/decode.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {

// `out` holds the set (cifar/), the VAE (vae/) and the runs; the keys for a latent run there.
std::string latent_keys(const TempDir& out) {
  return " data.dataset=cifar10 data.root=" + (out / "cifar").string() + " data.latents.vae=" + (out / "vae").string() +
         " data.latents.cache_dir=" + (out / "latents").string() +
         " model.width=32 model.depth=1 model.heads=2 model.patch=4 device.threads=1 train.batch_size=8"
         " sample.steps=2 eval.classifier=" +
         (out / "absent.pt").string() + " run.out_dir=" + out.path().string();
}

void prepare(const TempDir& out) {
  write_tiny_cifar10(out / "cifar");
  auto init = run_command(binary("vae") + " init " + (out / "vae").string());
  INFO(init.output);
  REQUIRE(init.exit_code == 0);
}

ImageU8 png(const std::filesystem::path& path) { return decode_image(read_text(path), path.string(), 3, 1 << 24); }

}  // namespace

TEST_CASE("rf_dit trains on a VAE's latents and decodes its samples: grids, FID and sample files in pixels") {
  TempDir out;
  prepare(out);
  write_random_inception(out / "w.safetensors");
  auto train =
      run_command(binary("rf_dit") +
                  " train train.steps=4 train.eval_every=2 eval.fid_every=4 eval.fid_samples=8"
                  " fid.kid_subset_size=4 fid.weights=" +
                  (out / "w.safetensors").string() + " fid.cache_dir=" + (out / "fid").string() + latent_keys(out));
  INFO(train.output);
  REQUIRE(train.exit_code == 0);
  CHECK(train.output.find("latents 4x16x16 of ") != std::string::npos);
  const std::filesystem::path run = only_run(out.path(), "rf_dit");
  const auto meta = nlohmann::json::parse(read_text(run / "meta.json"));
  CHECK(meta["data"]["latents"]["shape"] == nlohmann::json({4, 16, 16}));
  CHECK(meta["data"]["latents"]["train"]["images"] == 40);
  int cached = 0;
  for (const auto& e : std::filesystem::directory_iterator(out / "latents"))
    cached += e.path().extension() == ".safetensors";
  CHECK(cached == 2);  // the training set (with its flips) and the test set

  const auto evals = metrics_of(run, "eval");
  REQUIRE(evals.size() == 3);
  CHECK(std::isfinite(evals[2]["fid"].get<double>()));
  // The grid holds decoded 32 x 32 pictures (8 per row, 2 pixels of padding), not 16 x 16 latents.
  CHECK(png(run / "samples/step_0000004.png").width == 8 * (32 + 2) + 2);

  auto eval = run_command(binary("rf_dit") + " eval " + run.string() +
                          " eval.steps=[2] eval.guidance=[1.0] eval.likelihood_images=4 eval.likelihood_steps=2");
  INFO(eval.output);
  REQUIRE(eval.exit_code == 0);
  const auto results = nlohmann::json::parse(read_text(run / "eval.json"));
  CHECK(std::isfinite(results["bpd_latent"].get<double>()));
  CHECK_FALSE(results.contains("bpd"));
  CHECK(std::isfinite(results["sweep"][0]["fid"].get<double>()));
  // The fixed validation batch is the test set's posterior means: eval reads what training wrote.
  CHECK(results["val_loss"].get<double>() == doctest::Approx(evals.back()["val_loss"].get<double>()).epsilon(1e-6));

  auto sample = run_command(binary("rf_dit") + " sample " + run.string() + " --images 3");
  INFO(sample.output);
  REQUIRE(sample.exit_code == 0);
  const ImageU8 one = png(run / "samples/images_euler2_w2/000000.png");
  CHECK(one.width == 32);
  CHECK(one.height == 32);

  auto again =
      run_command(binary("rf_dit") + " train train.steps=1 train.eval_every=0 run.name=again" + latent_keys(out));
  INFO(again.output);
  REQUIRE(again.exit_code == 0);
  CHECK(again.output.find("(from the cache)") != std::string::npos);
}

TEST_CASE("a latent-space run resumed half way equals the unbroken run bit for bit") {
  TempDir straight_out, resumed_out;
  prepare(straight_out);
  prepare(resumed_out);
  const std::string steps = " train.eval_every=3 train.checkpoint_every=3";
  REQUIRE(run_command(binary("rf_dit") + " train train.steps=6" + steps + latent_keys(straight_out)).exit_code == 0);
  REQUIRE(run_command(binary("rf_dit") + " train train.steps=3" + steps + latent_keys(resumed_out)).exit_code == 0);
  const auto b = only_run(resumed_out.path(), "rf_dit");
  auto resumed = run_command(binary("rf_dit") + " train --resume " + b.string() + " train.steps=6");
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  const auto x = checkpoint_tensors(only_run(straight_out.path(), "rf_dit") / "checkpoints/last.pt"),
             y = checkpoint_tensors(b / "checkpoints/last.pt");
  REQUIRE(x.size() == y.size());
  for (const auto& [key, tensor] : x) {
    CAPTURE(key);
    CHECK(torch::equal(tensor, y.at(key)));
  }
}

TEST_CASE("a VAE the images do not fit, or a damaged one, is one line and its exit code before anything is written") {
  TempDir out;
  prepare(out);
  auto grey = run_command(binary("vae") + " init " + (out / "grey").string() + " vae.channels=1");
  REQUIRE(grey.exit_code == 0);
  const std::string keys = latent_keys(out) + " train.steps=1";
  auto wrong = run_command(binary("rf_dit") + " train" + keys + " data.latents.vae=" + (out / "grey").string());
  CHECK(wrong.exit_code == 2);
  CHECK(wrong.output.find("takes 1-channel images, the data set gives 3 (set data.channels = 1)") != std::string::npos);
  auto patch = run_command(binary("rf_dit") + " train" + keys + " model.patch=5");
  CHECK(patch.exit_code == 2);
  CHECK(patch.output.find("must divide the 16x16 latents") != std::string::npos);

  const std::filesystem::path weights = out / "vae/diffusion_pytorch_model.safetensors";
  const std::string bytes = read_text(weights);
  write_text(weights, bytes.substr(0, bytes.size() / 2));
  auto damaged = run_command(binary("rf_dit") + " train" + keys);
  CHECK(damaged.exit_code == 3);
  CHECK(damaged.output.find(weights.string()) != std::string::npos);
  CHECK(std::count(damaged.output.begin(), damaged.output.end(), '\n') == 1);
  CHECK_FALSE(std::filesystem::exists(out / "rf_dit"));
  CHECK_FALSE(std::filesystem::exists(out / "latents"));

  // init writes new folders only.
  auto over = run_command(binary("vae") + " init " + (out / "vae").string());
  CHECK(over.exit_code == 2);
  CHECK(read_text(weights).size() == bytes.size() / 2);
}

TEST_CASE("vae reconstruct shows test images beside their decoding and gives the PSNR") {
  TempDir out;
  prepare(out);
  auto result =
      run_command(binary("vae") + " reconstruct " + (out / "vae").string() + " --out " + (out / "pairs.png").string() +
                  " data.dataset=cifar10 data.root=" + (out / "cifar").string() + " vae.images=4");
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK(result.output.find("PSNR ") == 0);
  CHECK(std::isfinite(std::stod(result.output.substr(5))));
  CHECK(png(out / "pairs.png").width == 8 * (32 + 2) + 2);  // four pairs in one row
}

TEST_CASE("the README holds the vae tool's own key rows as the binary prints them") {
  auto markdown = run_command(binary("vae") + " init --print-config=markdown 2>/dev/null");
  REQUIRE(markdown.exit_code == 0);
  const std::string readme = read_text(source_dir() / "README.md");
  std::istringstream lines(markdown.output);
  int rows = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| `vae.", 0) != 0) continue;
    ++rows;
    CHECK_MESSAGE(readme.find(line + "\n") != std::string::npos,
                  "README.md is out of date: paste the vae.* rows of `build/bin/vae init --print-config=markdown`");
  }
  CHECK(rows == 5);
}
