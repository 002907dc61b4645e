// The VAE's encode and decode rates (vae/autoencoder_kl.hpp), for scripts/bench's "vae" rows beside
// diffusers (bench/vae_reference.py): a batch of random images at --size, one untimed pass of each,
// then --repeats timed encodes (the posterior's mean and std) and decodes (of the mean), on
// --threads threads, in --precision (fp32, or bf16 under autocast). Prints one JSON line.
//
//   build/bin/bench_vae VAE_DIR [--size 256] [--batch 1] [--threads T] [--precision fp32|bf16] [--repeats R]
#include <fmt/format.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

#include "bench/timing.hpp"
#include "common/device.hpp"
#include "vae/autoencoder_kl.hpp"

using genbox::bench::cpu_name;
using genbox::bench::seconds;

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr,
               "usage: bench_vae VAE_DIR [--size S] [--batch B] [--threads T] [--precision fp32|bf16] [--repeats R]\n");
    return 2;
  }
  int64_t size = 256, batch = 1, repeats = 2;
  int threads = 1;
  std::string precision = "fp32";
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--size") size = std::atoll(argv[i + 1]);
    if (flag == "--batch") batch = std::atoll(argv[i + 1]);
    if (flag == "--threads") threads = std::max(1, std::atoi(argv[i + 1]));
    if (flag == "--precision") precision = argv[i + 1];
    if (flag == "--repeats") repeats = std::max<int64_t>(1, std::atoll(argv[i + 1]));
  }
  torch::set_num_threads(threads);
  genbox::vae::AutoencoderKL vae = genbox::vae::load_autoencoder_kl(argv[1], torch::kCPU);
  torch::manual_seed(0);
  const torch::Tensor images = torch::rand({batch, vae->config().in_channels, size, size}) * 2 - 1;
  torch::NoGradGuard no_grad;
  genbox::AutocastGuard autocast(precision, torch::kCPU);
  torch::Tensor latents = vae->encode(images).mean;
  vae->decode(latents);
  const double encode_s = seconds([&] {
    for (int64_t r = 0; r < repeats; ++r) latents = vae->encode(images).mean;
  });
  const double decode_s = seconds([&] {
    for (int64_t r = 0; r < repeats; ++r) vae->decode(latents);
  });
  const nlohmann::json result = {{"cpu_model", cpu_name()},
                                 {"cpu_capability", at::get_cpu_capability()},
                                 {"threads", threads},
                                 {"precision", precision},
                                 {"size", size},
                                 {"batch", batch},
                                 {"encode_images_per_s", double(batch * repeats) / encode_s},
                                 {"decode_images_per_s", double(batch * repeats) / decode_s}};
  fmt::print("{}\n", result.dump());
  return 0;
}
