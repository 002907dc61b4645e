// End-to-end: NICE and the DiT on colour images (a tiny CIFAR-10 in its binary layout), checked
// through the run directories and the PNGs they leave.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "common/data/cifar.hpp"
#include "common/images.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {
// The PNG's width, height and colour type (2: RGB) from its IHDR chunk.
std::tuple<int64_t, int64_t, int> png_header(const std::filesystem::path& path) {
  const std::string bytes = read_text(path);
  REQUIRE(bytes.size() > 26);
  auto be32 = [&](size_t at) {
    int64_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
    return v;
  };
  return {be32(16), be32(20), static_cast<unsigned char>(bytes[25])};
}

const std::map<std::string, std::string> kSmall = {
    {"nice", " model.hidden=16 model.hidden_layers=1 eval.batch_size=16"},
    {"rf_dit", " model.width=16 model.depth=1 model.heads=2 model.patch=8 sample.per_class=2"},
};
}  // namespace

TEST_CASE("NICE and the DiT train and sample on CIFAR-10's layout in colour, with a grid of what they are fed") {
  for (const std::string program : {"nice", "rf_dit"}) {
    CAPTURE(program);
    TempDir dir;
    write_tiny_cifar10(dir.path());
    auto result = run_command(binary(program) + " train data.dataset=cifar10 data.root=" + dir.path().string() +
                              kSmall.at(program) + " train.steps=4 train.batch_size=8 train.eval_every=4" +
                              " train.sample_every=4 device.threads=1 run.out_dir=" + (dir / "out").string());
    INFO(result.output);
    REQUIRE(result.exit_code == 0);
    const std::filesystem::path run = only_run(dir / "out", program);
    const nlohmann::json meta = nlohmann::json::parse(read_text(run / "meta.json"));
    CHECK(meta["data_shape"] == nlohmann::json({3, 32, 32}));
    CHECK(read_text(run / "config.toml").find("hflip = \"auto\"") != std::string::npos);

    // The preview: 40 training images, 8 to a row of 32-pixel cells with 2 pixels between, in RGB;
    // flipped at random (auto: on for CIFAR), so each cell is its image or its mirror.
    CHECK(png_header(run / "samples/data.png") == std::tuple<int64_t, int64_t, int>{8 * 34 + 2, 5 * 34 + 2, 2});
    const torch::Tensor grid = read_image(run / "samples/data.png", 3);
    ImageDataset train = load_cifar(dir.path().string(), {"cifar10"}, "train");
    int flipped = 0;
    for (int64_t i = 0; i < 40; ++i) {
      const torch::Tensor cell = grid.narrow(1, 2 + (i / 8) * 34, 32).narrow(2, 2 + (i % 8) * 34, 32);
      const torch::Tensor original = train.images[i].to(torch::kFloat) / 255;
      const bool same = torch::allclose(cell, original, 0, 1e-6),
                 mirrored = torch::allclose(cell, original.flip({2}), 0, 1e-6);
      CAPTURE(i);
      CHECK((same || mirrored));
      flipped += mirrored && !same;
    }
    CHECK(flipped > 5);
    CHECK(flipped < 35);

    const auto [width, height, colour] = png_header(run / "samples/step_0000004.png");
    CHECK(colour == 2);
    CHECK(width > 32);
    auto sample = run_command(binary(program) + " sample " + run.string() + " --n 8");
    INFO(sample.output);
    CHECK(sample.exit_code == 0);
  }
}

TEST_CASE("NICE and the DiT train on a folder of the user's own images: classes, held-out test images, meta.json") {
  TempDir dir;
  // Two classes of 12 images each, of different sizes and aspect ratios, cropped to 16 x 16.
  for (int64_t i = 0; i < 24; ++i) {
    torch::manual_seed(i);
    const std::string name = (i < 12 ? "apples/" : "pears/") + std::to_string(i) + ".png";
    std::filesystem::create_directories((dir / "images" / name).parent_path());
    write_png(dir / "images" / name, torch::rand({3, 20 + i, 30 + 2 * i}) * (i < 12 ? 0.5 : 1.0));
  }
  for (const std::string program : {"nice", "rf_dit"}) {
    CAPTURE(program);
    const std::string data =
        " data.dataset=folder data.root=" + (dir / "images").string() + " data.image_size=16 data.test_fraction=0.25";
    auto result = run_command(
        binary(program) + " train" + data + kSmall.at(program) +
        " train.steps=3 train.batch_size=6 train.eval_every=3 device.threads=1 run.out_dir=" + (dir / "out").string());
    INFO(result.output);
    REQUIRE(result.exit_code == 0);
    const std::filesystem::path run = only_run(dir / "out", program);
    const nlohmann::json meta = nlohmann::json::parse(read_text(run / "meta.json"));
    CHECK(meta["data_shape"] == nlohmann::json({3, 16, 16}));
    CHECK(meta["data"]["classes"] == nlohmann::json({"apples", "pears"}));
    CHECK(meta["data"]["held_out"].size() == 6);
    // 18 training images, 8 to a row of 16-pixel cells.
    CHECK(png_header(run / "samples/data.png") == std::tuple<int64_t, int64_t, int>{8 * 18 + 2, 3 * 18 + 2, 2});
    auto sample = run_command(binary(program) + " sample " + run.string() + " --n 4");
    INFO(sample.output);
    CHECK(sample.exit_code == 0);
  }
  // The same seed holds out the same images, so an evaluation tests on the run's own test split.
  auto eval = run_command(binary("nice") + " eval " + only_run(dir / "out", "nice").string());
  INFO(eval.output);
  CHECK(eval.exit_code == 0);
  CHECK(nlohmann::json::parse(read_text(only_run(dir / "out", "nice") / "eval.json"))["test_examples"] == 6);
}
