// The latent space a DiT trains in: training latents against the encoder run by hand on the
// images train_rows would give (the same coins), decoding against the decoder, and the set-ups it
// refuses. The VAE is a small random one written as a diffusers folder.
#include <doctest/doctest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "base/errors.hpp"
#include "tests/support.hpp"
#include "vae/latent_space.hpp"

using namespace genbox;
using namespace genbox::vae;
using namespace genbox::testing;

namespace {

// A VAE folder of a small random VAE; the weights are large enough that decodings leave [-1, 1].
AutoencoderKL write_random_vae(const std::filesystem::path& dir, int64_t channels = 3) {
  AutoencoderKL vae = small_random_vae(channels, 0.4, 5);
  save_autoencoder_kl(dir, vae);
  return vae;
}

SourceData image_set(int64_t channels, int64_t side, bool flips) {
  SourceData data;
  data.images = true;
  data.shape = {channels, side, side};
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(11);
  const auto bytes = torch::TensorOptions().dtype(torch::kUInt8);
  data.train = at::randint(0, 256, {6, channels, side, side}, g, bytes);
  data.test = at::randint(0, 256, {3, channels, side, side}, g, bytes);
  data.train_labels = torch::zeros({6}, torch::kLong);
  data.test_labels = torch::zeros({3}, torch::kLong);
  data.hflip = flips;
  return data;
}

torch::Tensor posterior_of(AutoencoderKL& vae, const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  return vae->encode(images.to(torch::kFloat) / 127.5 - 1).mean;
}

}  // namespace

TEST_CASE("training latents are the scaled posterior of the images train_rows gives, with the same coins") {
  TempDir dir;
  AutoencoderKL vae = write_random_vae(dir / "vae");
  const SourceData data = image_set(3, 8, true);
  for (const char* posterior : {"mean", "sample"}) {
    CAPTURE(posterior);
    LatentSpace space({(dir / "vae").string(), posterior, 4, "none"}, data, torch::kCPU);
    space.encode(data, true);
    CHECK(space.shape() == std::vector<int64_t>{4, 4, 4});
    const torch::Tensor rows = torch::tensor({5, 0, 3, 3, 1}, torch::kLong);
    at::Generator a = at::make_generator<at::CPUGeneratorImpl>(21), b = at::make_generator<at::CPUGeneratorImpl>(21);
    const torch::Tensor latents = space.train_latents(data, rows, a);
    // By hand: the same coins flip the pixels, then the encoder's posterior, then (when sampling)
    // the noise drawn next from the same generator.
    const torch::Tensor pixels = train_rows(data, rows, b);
    torch::NoGradGuard no_grad;
    const Posterior p = vae->encode(pixels.to(torch::kFloat) / 127.5 - 1);
    const torch::Tensor z = std::string(posterior) == "sample" ? p.mean + p.std * at::randn(p.mean.sizes(), b) : p.mean;
    CHECK(relative_error(latents, (z - 0.0609) * 1.5305) < 1e-5);
    CHECK(flip_coins(data, 5, at::make_generator<at::CPUGeneratorImpl>(21)).any().item<bool>());
  }
}

TEST_CASE("test latents are the posterior means; decoding batch by batch is the decoder's, clamped") {
  TempDir dir;
  AutoencoderKL vae = write_random_vae(dir / "vae");
  const SourceData data = image_set(3, 8, false);
  LatentSpace space({(dir / "vae").string(), "sample", 2, "none"}, data, torch::kCPU);
  space.encode(data, false);
  CHECK(relative_error(space.test_latents(2), vae->scale(posterior_of(vae, data.test.narrow(0, 0, 2)))) < 1e-5);
  const torch::Tensor z = torch::randn({5, 4, 4, 4}) * 3;
  const torch::Tensor pixels = space.to_pixels(z);
  torch::NoGradGuard no_grad;
  const torch::Tensor expected = vae->decode(vae->unscale(z));
  CHECK(pixels.sizes() == torch::IntArrayRef({5, 3, 8, 8}));
  CHECK(relative_error(pixels, expected.clamp(-1, 1)) < 1e-5);
  CHECK(pixels.abs().max().item<double>() <= 1.0);
  CHECK(expected.abs().max().item<double>() > 1.0);  // the clamp was needed
  CHECK(relative_error(space.reconstruct(data.test), vae->decode(posterior_of(vae, data.test)).clamp(-1, 1)) < 1e-5);
}

TEST_CASE("a VAE that cannot take the images is a config error naming the key to change") {
  TempDir dir;
  write_random_vae(dir / "vae");
  const std::string folder = (dir / "vae").string();
  auto error_of = [&](const SourceData& data) {
    try {
      LatentSpace space({folder, "mean", 4, "none"}, data, torch::kCPU);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of(image_set(1, 8, false)).find("takes 3-channel images, the data set gives 1 (set data.channels = 3)") !=
        std::string::npos);
  CHECK(error_of(image_set(3, 7, false)).find("set data.image_size to a multiple of 2") != std::string::npos);
  SourceData points;
  points.shape = {2};
  CHECK(error_of(points).find("needs an image dataset") != std::string::npos);
  CHECK_THROWS_AS(LatentSpace({(dir / "absent").string(), "mean", 4, "none"}, image_set(3, 8, false), torch::kCPU),
                  DataError);
}

TEST_CASE("a second space over the same images and weights reads the encoded sets from the cache") {
  TempDir dir;
  write_random_vae(dir / "vae");
  const SourceData data = image_set(3, 8, true);
  const LatentSettings settings{(dir / "vae").string(), "mean", 4, (dir / "cache").string()};
  LatentSpace first(settings, data, torch::kCPU), second(settings, data, torch::kCPU);
  first.encode(data, true);
  second.encode(data, true);
  CHECK_FALSE(first.meta()["train"]["from_cache"].get<bool>());
  CHECK(second.meta()["train"]["from_cache"].get<bool>());
  CHECK(second.meta()["test"]["from_cache"].get<bool>());
  CHECK(second.summary().find("from the cache") != std::string::npos);
  const torch::Tensor rows = torch::arange(6);
  CHECK(torch::equal(first.train_latents(data, rows, at::make_generator<at::CPUGeneratorImpl>(1)),
                     second.train_latents(data, rows, at::make_generator<at::CPUGeneratorImpl>(1))));
}
