// genbox's AutoencoderKL against diffusers' (bench/vae_oracle.py: random weights, three configs:
// 4 latent channels with quant convs, SD3's 16 channels with a shift and no quant convs, a grey
// one-block VAE without attention), loading the folders save_pretrained wrote. Skipped (never
// failed) where the venv lacks diffusers.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include "common/device.hpp"
#include "common/safetensors.hpp"
#include "tests/support.hpp"
#include "vae/autoencoder_kl.hpp"

using namespace genbox;
using namespace genbox::vae;
using namespace genbox::testing;

TEST_CASE("the VAE encodes and decodes as diffusers' AutoencoderKL: fp32 to 1e-4, bf16 to 5e-2") {
  const std::string python = reference_python();
  if (python.empty() || run_command(python + " -c 'import diffusers'").exit_code != 0) {
    MESSAGE("skipped: no venv Python with diffusers (scripts/setup installs it)");
    return;
  }
  TempDir dir;
  const auto made =
      run_command(python + " " + (source_dir() / "bench/vae_oracle.py").string() + " " + dir.path().string());
  INFO(made.output);
  REQUIRE(made.exit_code == 0);
  for (const char* name : {"four_channels", "sixteen_channels", "no_attention"}) {
    CAPTURE(name);
    std::map<std::string, torch::Tensor> expected;
    for (auto& [key, tensor] : read_safetensors(dir / (std::string(name) + ".safetensors")).tensors)
      expected.emplace(key, tensor);
    AutoencoderKL vae = load_autoencoder_kl(dir / name, torch::kCPU);
    torch::NoGradGuard no_grad;
    const Posterior p = vae->encode(expected.at("images"));
    CHECK(relative_error(p.mean, expected.at("mean")) < 1e-4);
    CHECK(relative_error(p.std, expected.at("std")) < 1e-4);
    CHECK(relative_error(vae->decode(expected.at("mean")), expected.at("decoded")) < 1e-4);
    // bf16: genbox autocasts (fp32 weights, bf16 matmuls and convolutions); diffusers casts the
    // whole model. Both round differently, so the bound is bf16's few bits, not a bit pattern.
    AutocastGuard bf16("bf16", torch::kCPU);
    const Posterior q = vae->encode(expected.at("images"));
    CHECK(relative_error(q.mean, expected.at("mean_bf16")) < 5e-2);
    CHECK(relative_error(vae->decode(expected.at("mean_bf16")), expected.at("decoded_bf16")) < 5e-2);
  }
}
