// fid: FID, KID and precision/recall of image sets in the FID Inception's features, as the tools
// papers use compute them (metrics/inception_input.hpp names the three conventions).
//
//   fid stats SOURCE --out ref.npz     the statistics pytorch-fid and EDM read ({"mu", "sigma"})
//   fid score A B                      FID of A against B (pytorch-fid's two-path use), with the
//                                      counts, KID and precision/recall, and the floor when B is a
//                                      data set with a test split
//
// A SOURCE is a folder or zip of images (all of one size, found recursively), a CIFAR-10/100
// binary folder or an IDX folder (source.split picks the split), or, for score, a statistics
// .npz. Features of every image set are cached by content (fid.cache_dir), so a reference set
// is embedded once.
#include <fmt/format.h>

#include <ATen/Parallel.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "base/config.hpp"
#include "base/errors.hpp"
#include "base/settings.hpp"
#include "common/data/cifar.hpp"
#include "common/data/datasets.hpp"
#include "common/data/folder.hpp"
#include "common/data/prepared_cache.hpp"
#include "common/device.hpp"
#include "common/program.hpp"
#include "metrics/feature_stats.hpp"
#include "metrics/fid_settings.hpp"
#include "metrics/inception_features.hpp"
#include "metrics/sample_quality.hpp"

using namespace genbox;
using namespace genbox::metrics;
namespace fs = std::filesystem;

namespace {

struct FidConfig {
  DeviceSettings device;
  FidSettings fid;
  std::string split = "train";
  int64_t limit = 0;
  std::string format = "text";
};

Schema describe(FidConfig& c) {
  Schema s;
  describe(s, c.device);
  describe(s, c.fid);
  s.add_choice("source.split", c.split, {"train", "test"}, "split of a CIFAR or IDX source");
  s.add("source.limit", c.limit, 0, int64_t(1) << 40, "the first N images of a source; 0: all");
  s.add_choice("output.format", c.format, {"text", "json"}, "score's report: lines of text, or one JSON object");
  s.add_check([&c] {
    // The reference tools compute their features in fp32; features of another precision would
    // give FIDs that compare with nothing.
    if (c.device.precision != "fp32")
      throw ConfigError(fmt::format("device.precision = \"{}\": fid computes its features in fp32 only, as the "
                                    "reference tools do",
                                    c.device.precision));
  });
  return s;
}

// A set of images to embed, or statistics read from a file.
struct Source {
  std::string description;
  torch::Tensor images;       // uint8 [N, C, H, W]; undefined for a statistics file
  torch::Tensor test_images;  // the test split of a data set with one (for the floor)
  std::optional<FeatureStats> stats;
  int64_t count = 0;
};

bool has_any(const fs::path& dir, std::initializer_list<const char*> names) {
  for (const char* name : names)
    if (fs::exists(dir / name)) return true;
  return false;
}

Source read_source(const std::string& argument, const FidConfig& c) {
  const fs::path path(argument);
  if (!fs::exists(path)) throw UsageError(fmt::format("{}: no such file or folder", argument));
  Source source;
  const auto limited = [&](const torch::Tensor& images) {
    return c.limit > 0 && c.limit < images.size(0) ? images.narrow(0, 0, c.limit) : images;
  };
  if (path.extension() == ".npz") {
    source.stats = read_feature_stats(path);
    source.description = argument + " (statistics)";
    return source;
  }
  const std::string other = c.split == "train" ? "test" : "train";
  if (fs::is_directory(path) &&
      has_any(path, {"data_batch_1.bin", "cifar-10-batches-bin", "train.bin", "cifar-100-binary"})) {
    const CifarSet set{has_any(path, {"train.bin", "cifar-100-binary"}) ? "cifar100" : "cifar10"};
    source.images = limited(load_cifar(argument, set, c.split).images);
    source.test_images = c.split == "train" ? load_cifar(argument, set, other).images : torch::Tensor();
    source.description = fmt::format("{} {} ({})", set.name == "cifar10" ? "CIFAR-10" : "CIFAR-100", c.split, argument);
  } else if (fs::is_directory(path) && has_any(path, {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"})) {
    source.images = limited(load_idx_dataset(argument, c.split).images);
    source.test_images = c.split == "train" ? load_idx_dataset(argument, "t10k").images : torch::Tensor();
    source.description = fmt::format("IDX {} ({})", c.split, argument);
  } else {
    const ImageFolder folder = fs::is_directory(path) ? list_image_folder(path) : list_image_zip(path);
    source.images =
        limited(prepared_images(folder, ImageGeometry{{}, 3, "none"}, {}, default_prepared_cache_dir()).data.images);
    source.description = argument;
  }
  source.count = source.images.size(0);
  return source;
}

// Seconds spent computing features in this process (the cache's reads and writes included).
double feature_seconds = 0;

torch::Tensor features_of(const InceptionFeatures& extractor, const torch::Tensor& images, const FidConfig& c,
                          const std::string& what) {
  const struct Timer {
    std::chrono::steady_clock::time_point start;
    ~Timer() { feature_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }
  } timer{std::chrono::steady_clock::now()};
  const fs::path cache = c.fid.cache();
  if (cache.empty()) return extractor(images, what);
  const ReferenceFeatures found = reference_features(extractor, images, cache, what);
  if (found.from_cache) fmt::print("{}: features from {}\n", what, found.file.string());
  return found.features;
}

std::string image_shape(const torch::Tensor& images) {
  return fmt::format("{} images {}x{}", images.size(0), images.size(2), images.size(3));
}

int stats(const FidConfig& c, const CommandLine& cli) {
  const fs::path out = cli.files.at("out");
  if (out.extension() != ".npz") throw UsageError(fmt::format("--out {}: statistics files end in .npz", out.string()));
  const Source source = read_source(cli.arguments[0], c);
  if (!source.images.defined()) throw UsageError(cli.arguments[0] + " is a statistics file already");
  if (source.count < 2) throw DataError(cli.arguments[0] + ": statistics need at least two images");
  const InceptionFeatures extractor(c.fid.inception(), setup_device(c.device, 0));
  const torch::Tensor features = features_of(extractor, source.images, c, source.description);
  write_feature_stats(out, stats_of(features));
  fmt::print("wrote {}: mu [2048], sigma [2048, 2048] of {} ({}; {} convention)\n", out.string(),
             image_shape(source.images), source.description, c.fid.input);
  return kExitOk;
}

int score(const FidConfig& c, const CommandLine& cli) {
  Source a = read_source(cli.arguments[0], c), b = read_source(cli.arguments[1], c);
  if (!a.images.defined() && !b.images.defined())
    throw UsageError("score needs images on at least one side; both are statistics files");
  // The images go first: A are the generated ones, B the reference.
  if (!a.images.defined()) std::swap(a, b);
  if (a.count < 2) throw DataError(a.description + ": FID needs at least two images");
  const InceptionFeatures extractor(c.fid.inception(), setup_device(c.device, 0));
  const torch::Tensor generated = features_of(extractor, a.images, c, a.description);
  torch::Tensor reference;
  FeatureStats reference_stats;
  int64_t reference_count = 0;
  if (b.stats) {
    reference_stats = *b.stats;
  } else {
    reference = features_of(extractor, b.images, c, b.description);
    reference_stats = stats_of(reference);
    reference_count = b.count;
  }
  SampleQuality quality = sample_quality(generated, reference_stats, reference_count, reference, c.fid);
  const int64_t n = a.count;
  if (b.test_images.defined() && b.test_images.size(0) >= n && n >= 2)
    quality.floor = fid_floor(reference, features_of(extractor, b.test_images, c, b.description + " test"), n);
  nlohmann::json report = quality.to_json();
  report["input"] = c.fid.input;
  report["features_s"] = feature_seconds;
  report["generated"] = a.description;
  report["reference"] = b.description;
  if (c.format == "json") {
    fmt::print("{}\n", report.dump());
    return kExitOk;
  }
  const std::string against = reference_count ? fmt::format("{}", reference_count) : "a statistics file's";
  fmt::print("FID {:.4f}  ({} images of {} against {} of {}; {} convention)\n", quality.fid, n, a.description, against,
             b.description, c.fid.input);
  if (quality.floor)
    fmt::print("floor {:.4f}  (train against test, {} images each: no generator scores lower at this count)\n",
               *quality.floor, n);
  if (quality.kid)
    fmt::print("KID {:.6f} +- {:.6f}  ({} subsets of {})\n", quality.kid->mean, quality.kid->stddev,
               quality.kid->subsets, quality.kid->subset_size);
  if (quality.pr)
    fmt::print("precision {:.4f}  recall {:.4f}  (k = {}, {} images each)\n", quality.pr->precision, quality.pr->recall,
               quality.pr->k, std::min(n, b.count));
  return kExitOk;
}

// Features of SOURCE's images, timed after a warm-up batch: one JSON line.
int bench(const FidConfig& c, const CommandLine& cli) {
  const Source source = read_source(cli.arguments[0], c);
  if (!source.images.defined()) throw UsageError(cli.arguments[0] + " is a statistics file; bench needs images");
  const torch::Device device = setup_device(c.device, 0);
  const InceptionFeatures extractor(c.fid.inception(), device);
  extractor(source.images.narrow(0, 0, std::min<int64_t>(c.fid.batch_size, source.count)));
  const double seconds = seconds_of([&] { extractor(source.images); }, 1, device);
  const nlohmann::json result = {
      {"images", source.count},           {"features_s", seconds}, {"images_per_s", source.count / seconds},
      {"threads", at::get_num_threads()}, {"input", c.fid.input},  {"device", device.str()}};
  fmt::print("{}\n", result.dump());
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<CommandSpec> commands = {
      {"stats",
       false,
       {},
       "write the FID statistics of a set of images ({\"mu\", \"sigma\"}, as pytorch-fid and EDM read them)",
       {{"out", "the .npz to write"}},
       {{"SOURCE", "a folder or zip of images, or a CIFAR or IDX folder (source.split)"}}},
      {"score",
       false,
       {},
       "FID of A against B, with the image counts, KID, precision/recall and the train-vs-test floor",
       {},
       {{"A", "the generated images: a folder or zip (or a statistics .npz)"},
        {"B", "the reference: a folder, zip, CIFAR or IDX folder, or a statistics .npz"}}},
      {"bench",
       false,
       {},
       "time the Inception features of SOURCE's images (after a warm-up batch), one JSON line",
       {},
       {{"SOURCE", "a folder or zip of images, or a CIFAR or IDX folder"}}},
  };
  FidConfig config;
  Schema schema = describe(config);
  return run_program(argc, argv, "fid", commands, schema, [&](const CommandLine& cli) {
    if (cli.command == "stats") return stats(config, cli);
    if (cli.command == "bench") return bench(config, cli);
    return score(config, cli);
  });
}
