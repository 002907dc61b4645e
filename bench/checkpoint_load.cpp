// What verifying every byte of a checkpoint costs next to loading it (common/zip_integrity.hpp).
// Saves a checkpoint of about 100 MB (a 2500 x 2500 linear layer with its EMA and Adam's two
// moments), then times, interleaved and best of --rounds each: the whole resume load
// (read the file, verify, parse, copy into the model, EMA and optimizer), reading the file alone,
// and the verification alone on bytes in memory. Prints one JSON line.
//
//   build/bin/bench_checkpoint [--rounds N] [--dir DIR]
#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "base/fsutil.hpp"
#include "bench/timing.hpp"
#include "common/checkpoint.hpp"
#include "common/optim.hpp"
#include "common/zip_integrity.hpp"

using genbox::bench::cpu_name;
using genbox::bench::seconds;

int main(int argc, char** argv) {
  int rounds = 7;
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "genbox-bench-checkpoint";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--rounds")
      rounds = std::max(1, std::atoi(argv[i + 1]));
    else if (flag == "--dir")
      dir = argv[i + 1];
  }
  torch::set_num_threads(1);
  std::filesystem::create_directories(dir);
  const std::filesystem::path path = dir / "bench.pt";

  torch::manual_seed(0);
  torch::nn::Linear model(2500, 2500);
  genbox::OptimSettings settings;
  auto optimizer = genbox::make_optimizer(*model, settings);
  genbox::Ema ema(*model, 0.999);
  optimizer->zero_grad();
  model->forward(torch::randn({8, 2500})).square().mean().backward();
  optimizer->step();
  ema.update(*model);
  const double save_s = seconds([&] { genbox::save_checkpoint(path, *model, &ema, optimizer.get(), {1, 8, 0.5, {}}); });

  const std::string bytes = genbox::read_file(path);
  double load = 1e9, read = 1e9, verify = 1e9;
  for (int r = 0; r < rounds; ++r) {
    load = std::min(load, seconds([&] { genbox::load_checkpoint(path, *model, &ema, optimizer.get(), true); }));
    read = std::min(read, seconds([&] { genbox::read_file(path); }));
    verify = std::min(verify, seconds([&] { genbox::verify_zip(bytes, path.string()); }));
  }
  nlohmann::json result = {{"cpu", cpu_name()},
                           {"checkpoint_mb", bytes.size() / 1e6},
                           {"save_ms", save_s * 1e3},
                           {"load_ms", load * 1e3},
                           {"read_file_ms", read * 1e3},
                           {"verify_ms", verify * 1e3},
                           {"verify_gb_per_s", bytes.size() / verify / 1e9},
                           {"verify_share_of_load", verify / load}};
  fmt::print("{}\n", result.dump());
  std::filesystem::remove(path);
  return 0;
}
