// The `fid` program end to end, with a random-weights Inception: statistics files, scores of
// folders, statistics and data sets (with the floor), the features cache, and one-line errors.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/images.hpp"
#include "common/npz.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {

// n 16 x 16 colour images of smooth random patterns, brighter with `offset`.
void write_folder(const std::filesystem::path& dir, int64_t n, double offset, uint64_t seed) {
  torch::manual_seed(seed);
  const torch::Tensor base = torch::rand({n, 3, 4, 4});
  const torch::Tensor images = torch::nn::functional::interpolate(base, torch::nn::functional::InterpolateFuncOptions()
                                                                            .size(std::vector<int64_t>{16, 16})
                                                                            .mode(torch::kBilinear)
                                                                            .align_corners(false));
  write_png_folder(dir, (images * 0.7 + offset).clamp(0, 1));
}

nlohmann::json score_json(const std::string& a, const std::string& b, const std::string& keys) {
  auto score = run_command(binary("fid") + " score " + a + " " + b + " output.format=json" + keys);
  INFO(score.output);
  REQUIRE(score.exit_code == 0);
  return nlohmann::json::parse(score.output.substr(score.output.rfind('{')));
}

}  // namespace

TEST_CASE("fid writes statistics, scores folders against folders, statistics and data sets, and caches") {
  TempDir dir;
  write_random_inception(dir / "w.safetensors");
  write_folder(dir / "a", 6, 0.0, 1);
  write_folder(dir / "b", 6, 0.3, 2);
  write_tiny_cifar10(dir / "cifar");
  const std::string keys = " device.threads=1 fid.weights=" + (dir / "w.safetensors").string() +
                           " fid.cache_dir=" + (dir / "cache").string() + " fid.kid_subset_size=4";

  auto stats =
      run_command(binary("fid") + " stats " + (dir / "a").string() + " --out " + (dir / "a.npz").string() + keys);
  INFO(stats.output);
  REQUIRE(stats.exit_code == 0);
  CHECK(stats.output.find("mu [2048], sigma [2048, 2048] of 6 images 16x16") != std::string::npos);
  const auto arrays = read_npz(dir / "a.npz");
  CHECK(arrays.at("mu").sizes() == torch::IntArrayRef({2048}));
  CHECK(arrays.at("sigma").sizes() == torch::IntArrayRef({2048, 2048}));
  CHECK((arrays.at("sigma").scalar_type() == torch::kFloat64));

  // Folder against folder: FID with the counts, KID and precision/recall of as many images.
  const nlohmann::json folders = score_json((dir / "b").string(), (dir / "a").string(), keys);
  CHECK(folders["fid_images"] == 6);
  CHECK(folders["fid_reference_images"] == 6);
  CHECK(folders["input"] == "tf");
  CHECK(folders["fid"].get<double>() > 0);
  CHECK(folders.contains("kid"));
  CHECK(folders.contains("precision"));
  CHECK_FALSE(folders.contains("fid_floor"));  // a folder has no test split
  // Against the folder's statistics file: the same FID (its features came from the cache).
  const nlohmann::json against_stats = score_json((dir / "b").string(), (dir / "a.npz").string(), keys);
  CHECK(against_stats["fid"].get<double>() == doctest::Approx(folders["fid"].get<double>()).epsilon(1e-9));
  CHECK_FALSE(against_stats.contains("kid"));  // statistics hold no features
  auto text = run_command(binary("fid") + " score " + (dir / "b").string() + " " + (dir / "a").string() + keys);
  CHECK(text.output.find("features from " + (dir / "cache").string()) != std::string::npos);
  CHECK(text.output.find("FID ") != std::string::npos);
  CHECK(text.output.find("KID ") != std::string::npos);

  // Against a data set with a test split: the floor, train against test at the same count.
  const nlohmann::json cifar = score_json((dir / "a").string(), (dir / "cifar").string(), keys);
  CHECK(cifar["fid_reference_images"] == 40);
  CHECK(cifar["reference"].get<std::string>().rfind("CIFAR-10 train", 0) == 0);
  CHECK(std::isfinite(cifar["fid_floor"].get<double>()));
  CHECK(cifar["fid_floor"].get<double>() > 0);

  // The same features with and without the cache.
  const nlohmann::json uncached = score_json((dir / "b").string(), (dir / "a").string(),
                                             " device.threads=1 fid.weights=" + (dir / "w.safetensors").string() +
                                                 " fid.cache_dir=none fid.kid_subset_size=4");
  CHECK(uncached["fid"].get<double>() == folders["fid"].get<double>());
}

TEST_CASE("fid's mistakes are one line with exit 2, and a missing weights file says how to get it") {
  TempDir dir;
  write_folder(dir / "a", 3, 0.0, 1);
  auto missing = run_command("XDG_CACHE_HOME=" + (dir / "xdg").string() + " " + binary("fid") + " score " +
                             (dir / "a").string() + " " + (dir / "a").string());
  CHECK(missing.exit_code == 2);
  CHECK(missing.output.find("no Inception weights at " + (dir / "xdg/genbox/pt_inception-2015-12-05-6726825d"
                                                                ".safetensors")
                                                             .string()) != std::string::npos);
  CHECK(missing.output.find("bench/convert_inception.py") != std::string::npos);
  auto absent = run_command(binary("fid") + " score " + (dir / "a").string() + " " + (dir / "nowhere").string());
  CHECK(absent.exit_code == 2);
  CHECK(absent.output.find((dir / "nowhere").string() + ": no such file or folder") != std::string::npos);
  auto no_out = run_command(binary("fid") + " stats " + (dir / "a").string());
  CHECK(no_out.exit_code == 2);
  CHECK(no_out.output.find("'stats' needs --out FILE") != std::string::npos);
  auto bad_input = run_command(binary("fid") + " score a b fid.input=tensorflow");
  CHECK(bad_input.exit_code == 2);
  CHECK(bad_input.output.find("fid.input") != std::string::npos);
  auto bf16 = run_command(binary("fid") + " score a b device.precision=bf16");
  CHECK(bf16.exit_code == 2);
  CHECK(bf16.output.find("fid computes its features in fp32 only") != std::string::npos);
}

TEST_CASE("the README's fid key table is the one the binary prints") {
  auto markdown = run_command(binary("fid") + " score --print-config=markdown 2>/dev/null");
  REQUIRE(markdown.exit_code == 0);
  CHECK_MESSAGE(read_text(source_dir() / "README.md").find(markdown.output) != std::string::npos,
                "README.md is out of date: paste `build/bin/fid score --print-config=markdown` into it");
}
