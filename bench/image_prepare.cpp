// What preparing a folder of images costs (common/data/folder.hpp, prepared_cache.hpp), for
// scripts/bench's "images" rows beside torchvision (bench/image_folder.py). Times, on --threads
// threads: the first start (list the folder, decode and fit every image, write the prepared-set
// cache into a fresh directory), the second start (list, find and read the cache), and the
// decoder's own rate: the same files decoded alone from bytes already in memory, no fitting.
// Prints one JSON line.
//
//   build/bin/bench_images DIR [--size S] [--channels C] [--threads T]
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/timing.hpp"
#include "common/data/decode.hpp"
#include "common/data/folder.hpp"
#include "common/data/prepared_cache.hpp"

using genbox::bench::cpu_name;
using genbox::bench::seconds;

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: bench_images DIR [--size S] [--channels C] [--threads T]\n");
    return 2;
  }
  const std::filesystem::path root = argv[1];
  genbox::ImageGeometry geometry;
  geometry.size = {32};
  int threads = 2;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--size") geometry.size = {std::atoll(argv[i + 1])};
    if (flag == "--channels") geometry.channels = std::atoll(argv[i + 1]);
    if (flag == "--threads") threads = std::max(1, std::atoi(argv[i + 1]));
  }
  torch::set_num_threads(threads);
  const std::filesystem::path cache =
      std::filesystem::temp_directory_path() / fmt::format("genbox-bench-images-{}", getpid());
  std::filesystem::remove_all(cache);

  int64_t n = 0;
  const double prepare_s = seconds(
      [&] { n = genbox::prepared_images(genbox::list_image_folder(root), geometry, {}, cache).data.images.size(0); });
  const double reload_s =
      seconds([&] { genbox::prepared_images(genbox::list_image_folder(root), geometry, {}, cache); });
  std::filesystem::remove_all(cache);

  const genbox::ImageFolder folder = genbox::list_image_folder(root);
  std::vector<std::string> bytes(folder.files.size());
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = folder.read(i);
  const double decode_s = seconds([&] {
    at::parallel_for(0, int64_t(bytes.size()), 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        genbox::decode_image(bytes[size_t(i)], folder.name(size_t(i)), geometry.channels, geometry.max_pixels);
    });
  });

  const nlohmann::json result = {{"cpu", cpu_name()},
                                 {"threads", threads},
                                 {"images", n},
                                 {"size", geometry.size[0]},
                                 {"prepare_s", prepare_s},
                                 {"reload_s", reload_s},
                                 {"decode_only_s", decode_s},
                                 {"prepare_images_per_s", double(n) / prepare_s}};
  fmt::print("{}\n", result.dump());
  return 0;
}
