// Encoding a data set once into VAE latents, its cache and the training latents drawn from it.
#include <doctest/doctest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "tests/support.hpp"
#include "vae/latent_set.hpp"

using namespace genbox;
using namespace genbox::vae;
using namespace genbox::testing;

namespace {

AutoencoderKL random_vae() { return small_random_vae(3, 0.2, 3); }

torch::Tensor random_images(int64_t n, int64_t seed) {
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(0, 256, {n, 3, 8, 8}, g, torch::TensorOptions().dtype(torch::kUInt8));
}

}  // namespace

TEST_CASE("a set's latents are each image's posterior, batch by batch, and its flipped image's") {
  AutoencoderKL vae = random_vae();
  const torch::Tensor images = random_images(5, 1);
  const LatentSet set = encode_images(vae, images, true, 2);
  CHECK(set.mean.sizes() == torch::IntArrayRef({5, 4, 4, 4}));
  torch::NoGradGuard no_grad;
  for (int64_t i = 0; i < 5; ++i) {
    CAPTURE(i);
    const torch::Tensor x = images.narrow(0, i, 1).to(torch::kFloat) / 127.5 - 1;
    const Posterior p = vae->encode(x), flipped = vae->encode(x.flip({3}));
    CHECK(torch::allclose(set.mean[i], p.mean[0], 1e-5, 1e-5));
    CHECK(torch::allclose(set.std[i], p.std[0], 1e-5, 1e-5));
    CHECK(torch::allclose(set.flipped_mean[i], flipped.mean[0], 1e-5, 1e-5));
    CHECK(torch::allclose(set.flipped_std[i], flipped.std[0], 1e-5, 1e-5));
  }
  CHECK_FALSE(torch::allclose(set.flipped_mean, set.mean.flip({3}), 1e-3, 1e-3));  // not the flipped latent
  CHECK_FALSE(encode_images(vae, images, false, 4).flipped_mean.defined());
}

TEST_CASE("latents are cached by the pixels' and weights' content, and a damaged cache file is encoded again") {
  TempDir dir;
  AutoencoderKL vae = random_vae();
  const torch::Tensor images = random_images(4, 2);
  const LatentSet first = cached_latent_set(vae, "weights-a", images, true, 3, dir.path());
  CHECK_FALSE(first.from_cache);
  REQUIRE(std::filesystem::exists(first.file));
  const LatentSet again = cached_latent_set(vae, "weights-a", images, true, 3, dir.path());
  CHECK(again.from_cache);
  CHECK(torch::equal(again.mean, first.mean));
  CHECK(torch::equal(again.flipped_std, first.flipped_std));
  CHECK(cached_latent_set(vae, "weights-b", images, true, 3, dir.path()).file != first.file);
  CHECK(cached_latent_set(vae, "weights-a", random_images(4, 3), true, 3, dir.path()).file != first.file);
  CHECK(cached_latent_set(vae, "weights-a", images, false, 3, dir.path()).file != first.file);
  const std::string bytes = read_text(first.file);
  write_text(first.file, bytes.substr(0, bytes.size() / 2));
  const LatentSet redone = cached_latent_set(vae, "weights-a", images, true, 3, dir.path());
  CHECK_FALSE(redone.from_cache);
  CHECK(torch::equal(redone.mean, first.mean));
}

TEST_CASE("training latents are the scaled mean, or a posterior draw, of each row or of its flipped image") {
  AutoencoderKL vae = random_vae();
  const LatentSet set = encode_images(vae, random_images(6, 4), true, 6);
  const torch::Tensor rows = torch::tensor({4, 0, 4}, torch::kLong);
  const torch::Tensor flipped = torch::tensor({false, true, true});
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(7);
  const torch::Tensor means = training_latents(set, vae, rows, flipped, false, g);
  CHECK(torch::allclose(means[0], (set.mean[4] - 0.0609) * 1.5305));
  CHECK(torch::allclose(means[1], (set.flipped_mean[0] - 0.0609) * 1.5305));
  CHECK(torch::allclose(means[2], (set.flipped_mean[4] - 0.0609) * 1.5305));
  at::Generator draw = at::make_generator<at::CPUGeneratorImpl>(8), same = at::make_generator<at::CPUGeneratorImpl>(8);
  const torch::Tensor drawn = training_latents(set, vae, rows, torch::Tensor(), true, draw);
  const torch::Tensor eps = at::randn({3, 4, 4, 4}, same);
  const torch::Tensor by_hand =
      (set.mean.index_select(0, rows) + set.std.index_select(0, rows) * eps - 0.0609) * 1.5305;
  CHECK(torch::allclose(drawn, by_hand, 1e-6, 1e-6));
}
