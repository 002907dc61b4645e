#include "tests/fuzz/harnesses_torch.hpp"

#include <unistd.h>

#include <torch/torch.h>
#include <cstdio>
#include <filesystem>
#include <string>

#include "base/errors.hpp"
#include "common/checkpoint.hpp"
#include "common/data/cifar.hpp"
#include "common/data/folder.hpp"
#include "common/npz.hpp"
#include "common/optim.hpp"
#include "detection/coco_json.hpp"

namespace genbox::fuzz {

namespace {
// The bytes as a file private to this process (the readers open paths).
std::string as_file(const uint8_t* data, size_t size, const std::string& name) {
  std::string path = "/tmp/genbox-fuzz-" + std::to_string(getpid()) + "-" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  return path;
}
}  // namespace

int coco(const uint8_t* data, size_t size) {
  std::string path = as_file(data, size, "coco.json");
  try {
    detection::read_coco_detection(path, std::filesystem::path(path).parent_path() / "genbox-fuzz-no-images");
  } catch (const DataError&) {
  }
  return 0;
}

int checkpoint(const uint8_t* data, size_t size) {
  std::string path = as_file(data, size, "checkpoint.pt");
  torch::nn::Linear model(4, 3);
  try {
    load_weights(path, *model, true);
  } catch (const DataError&) {
  }
  try {
    OptimSettings settings;
    auto optimizer = make_optimizer(*model, settings);
    Ema ema(*model, 0.9);
    load_checkpoint(path, *model, &ema, optimizer.get(), false);
  } catch (const DataError&) {
  }
  return 0;
}

int zip(const uint8_t* data, size_t size) {
  const std::string path = as_file(data, size, "images.zip");
  try {
    const ImageFolder folder = list_image_zip(path);
    ImageGeometry geometry{{6, 4}, 3, "center", 1 << 20, true};
    decode_folder(folder, geometry);
  } catch (const DataError&) {
  }
  return 0;
}

int cifar(const uint8_t* data, size_t size) {
  const std::filesystem::path dir = "/tmp/genbox-fuzz-" + std::to_string(getpid()) + "-cifar";
  std::filesystem::create_directories(dir);
  for (const char* name : {"test_batch.bin", "test.bin"}) {
    std::FILE* f = std::fopen((dir / name).c_str(), "wb");
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  for (const CifarSet& set : {CifarSet{"cifar10", false}, CifarSet{"cifar100", false}, CifarSet{"cifar100", true}}) {
    try {
      load_cifar(dir.string(), set, "test");
    } catch (const DataError&) {
    }
  }
  return 0;
}

int npz(const uint8_t* data, size_t size) {
  const std::string path = as_file(data, size, "stats.npz");
  try {
    read_npz(path);
  } catch (const DataError&) {
  }
  try {
    parse_npy(std::string(reinterpret_cast<const char*>(data), size), "fuzz.npy");
  } catch (const DataError&) {
  }
  return 0;
}

}  // namespace genbox::fuzz
