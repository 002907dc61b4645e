#include "common/data/folder.hpp"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "base/config.hpp"
#include "base/errors.hpp"
#include "base/fsutil.hpp"
#include "base/progress.hpp"
#include "common/data/decode.hpp"
#include "common/data/resample.hpp"
#include "common/zip_reader.hpp"

namespace genbox {

namespace fs = std::filesystem;

namespace {
const std::set<std::string> kImageExtensions = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga",
                                                ".ppm", ".pgm", ".pnm",  ".psd", ".hdr"};

bool is_image_name(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return kImageExtensions.count(extension) > 0;
}

// A path for a message whatever bytes it holds: bytes that are not UTF-8 as \xNN.
std::string printable(const std::string& text) {
  if (valid_utf8(text)) return text;
  std::string out;
  for (unsigned char c : text) out += c < 0x80 ? std::string(1, char(c)) : fmt::format("\\x{:02x}", c);
  return out;
}

// EDM's dataset.json labels, by relative path; std::nullopt for "labels": null.
std::optional<std::map<std::string, int64_t>> read_dataset_json(const std::string& text, const std::string& path) {
  const nlohmann::json json = parse_json(text, path);
  const auto labels = json.is_object() ? json.find("labels") : json.end();
  if (labels == json.end())
    throw DataError(fmt::format("{}: expected an object with \"labels\": [[\"path\", label], ...] or null", path));
  if (labels->is_null()) return std::nullopt;
  if (!labels->is_array())
    throw DataError(fmt::format("{}: \"labels\" must be an array of [\"path\", label] pairs or null, not {}", path,
                                json_kind(*labels)));
  std::map<std::string, int64_t> out;
  for (const nlohmann::json& pair : *labels) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_number_integer())
      throw DataError(
          fmt::format("{}: \"labels\" holds {}, not a [\"path\", label] pair", path, pair.dump().substr(0, 60)));
    const std::string name = pair[0].get<std::string>();
    const int64_t label = pair[1].get<int64_t>();
    if (label < 0)
      throw DataError(fmt::format("{}: label {} for {}; labels are whole numbers >= 0", path, label, name));
    out[name] = label;
  }
  return out;
}

// The image fitted to the data set's size, as the geometry says; taken by value, so that an image
// already of the size is handed back without a copy.
ImageU8 fit(ImageU8 image, const ImageGeometry& geometry, int64_t height, int64_t width, const std::string& source) {
  if (image.height == height && image.width == width) return image;
  if (geometry.crop == "center") return center_crop(image, height, width);
  if (geometry.crop == "resize") return resize_bicubic(image, height, width);
  throw DataError(fmt::format("{}: {} x {} pixels, but data.crop = \"none\" needs every image to be {} x {}", source,
                              image.height, image.width, height, width));
}
}  // namespace

namespace {
// Labels by dataset.json when there is one (its text), else by ImageFolder's class folders.
void assign_labels(ImageFolder& folder, const std::set<std::string>& top_folders,
                   const std::optional<std::string>& dataset_json, const std::string& json_source) {
  if (folder.files.empty())
    throw DataError(
        fmt::format("{}: no images under it (PNG, JPEG, BMP, GIF, TGA, PNM, PSD, HDR)", folder.root.string()));
  if (dataset_json) {
    const auto labels = read_dataset_json(*dataset_json, json_source);
    if (labels) {
      std::set<std::string> listed;
      for (const auto& [name, label] : *labels) listed.insert(name);
      for (const std::string& file : folder.files) {
        auto found = labels->find(file);
        if (found == labels->end()) throw DataError(fmt::format("{}: has no label for {}", json_source, file));
        folder.labels.push_back(found->second);
        listed.erase(file);
      }
      if (!listed.empty())
        throw DataError(fmt::format("{}: names {}, which is not an image under {}", json_source, *listed.begin(),
                                    folder.root.string()));
      int64_t classes = 1 + *std::max_element(folder.labels.begin(), folder.labels.end());
      for (int64_t k = 0; k < classes; ++k) folder.class_names.push_back(std::to_string(k));
    } else {
      folder.labels.assign(folder.files.size(), 0);
    }
    return;
  }
  const bool nested = std::any_of(folder.files.begin(), folder.files.end(),
                                  [](const std::string& f) { return f.find('/') != std::string::npos; });
  if (!nested) {
    folder.labels.assign(folder.files.size(), 0);
    return;
  }
  // ImageFolder's classes: the top-level folders, sorted; each must hold images.
  for (const std::string& file : folder.files)
    if (file.find('/') == std::string::npos)
      throw DataError(
          fmt::format("{}: an image beside class folders; with sub-folders (one per class) every image "
                      "must be in one, or give labels in a dataset.json",
                      (folder.root / file).string()));
  folder.class_names.assign(top_folders.begin(), top_folders.end());
  std::map<std::string, int64_t> class_of;
  for (size_t k = 0; k < folder.class_names.size(); ++k) class_of[folder.class_names[k]] = int64_t(k);
  std::set<std::string> empty(top_folders.begin(), top_folders.end());
  for (const std::string& file : folder.files) {
    const std::string top = file.substr(0, file.find('/'));
    folder.labels.push_back(class_of.at(top));
    empty.erase(top);
  }
  if (!empty.empty())
    throw DataError(fmt::format("{}: a class folder with no images", (folder.root / *empty.begin()).string()));
}

}  // namespace

std::string ImageFolder::name(size_t i) const { return (root / files[i]).string(); }

ImageFolder list_image_folder(const fs::path& root) {
  std::error_code error;
  if (!fs::is_directory(root, error))
    throw DataError(fmt::format("{}: {}", root.string(), fs::exists(root, error) ? "not a folder" : "no such folder"));
  ImageFolder folder;
  folder.root = root;
  std::set<std::string> top_folders;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    const std::string relative = it->path().lexically_relative(root).generic_string();
    if (it->is_directory(error) && it.depth() == 0) top_folders.insert(relative);
    if (!it->is_regular_file(error) || !is_image_name(it->path())) continue;
    if (!valid_utf8(relative))
      throw DataError(fmt::format("{}: a file name that is not UTF-8; rename it", printable(it->path().string())));
    folder.files.push_back(relative);
  }
  if (error) throw DataError(fmt::format("{}: cannot list: {}", root.string(), error.message()));
  std::sort(folder.files.begin(), folder.files.end());
  const fs::path json_path = root / "dataset.json";
  const std::optional<std::string> json =
      fs::exists(json_path) ? std::optional<std::string>(read_file(json_path)) : std::nullopt;
  assign_labels(folder, top_folders, json, json_path.string());
  folder.read = [root, files = folder.files](size_t i) { return read_file(root / files[i]); };
  return folder;
}

ImageFolder list_image_zip(const fs::path& archive) {
  // Mapped for as long as a reader of its entries lives.
  const auto mapped = std::make_shared<const MappedFile>(archive);
  const ZipDirectory dir = read_zip_directory(mapped->bytes(), archive.string(), "zip archive");
  ImageFolder folder;
  folder.root = archive;
  std::map<std::string, ZipEntry> entries;
  std::set<std::string> top_folders;
  std::optional<std::string> json;
  constexpr uint64_t kMaxEntry = uint64_t(1) << 30;
  for (const ZipEntry& entry : dir.entries) {
    if (entry.name == "dataset.json") json = zip_entry_content(mapped->bytes(), entry, archive.string(), kMaxEntry);
    if (entry.name.empty() || entry.name.back() == '/' || !is_image_name(entry.name)) continue;
    if (!valid_utf8(entry.name))
      throw DataError(fmt::format("{}: entry {}: a name that is not UTF-8", archive.string(), printable(entry.name)));
    if (entry.name.find('/') != std::string::npos) top_folders.insert(entry.name.substr(0, entry.name.find('/')));
    folder.files.push_back(entry.name);
    entries[entry.name] = entry;
  }
  std::sort(folder.files.begin(), folder.files.end());
  assign_labels(folder, top_folders, json, archive.string() + ":dataset.json");
  std::vector<ZipEntry> ordered;
  for (const std::string& file : folder.files) ordered.push_back(entries.at(file));
  folder.read = [mapped, ordered, source = archive.string()](size_t i) {
    return zip_entry_content(mapped->bytes(), ordered[i], source, kMaxEntry);
  };
  return folder;
}

torch::Tensor fit_images(const torch::Tensor& images, const ImageGeometry& geometry, const std::string& source) {
  const int64_t n = images.size(0), found = images.size(1), h = images.size(2), w = images.size(3);
  const int64_t channels = geometry.channels ? geometry.channels : found;
  int64_t height = h, width = w;
  if (geometry.size.size() == 1) height = width = geometry.size[0];
  if (geometry.size.size() == 2) std::tie(height, width) = std::tuple(geometry.size[0], geometry.size[1]);
  if (channels == found && height == h && width == w) return images;
  const torch::Tensor interleaved = images.permute({0, 2, 3, 1}).contiguous();
  torch::Tensor out = torch::empty({n, channels, height, width}, torch::kUInt8);
  const uint8_t* in = interleaved.data_ptr<uint8_t>();
  uint8_t* target = out.data_ptr<uint8_t>();
  const int64_t plane = height * width;
  at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      ImageU8 image{h, w, channels, std::vector<uint8_t>(size_t(h * w * channels))};
      convert_channels(in + i * h * w * found, found, h * w, channels, image.pixels.data());
      const ImageU8 fitted = fit(std::move(image), geometry, height, width, source);
      for (int64_t p = 0; p < plane; ++p)
        for (int64_t c = 0; c < channels; ++c)
          target[(i * channels + c) * plane + p] = fitted.pixels[size_t(p * channels + c)];
    }
  });
  return out;
}

DecodedImages decode_folder(const ImageFolder& folder, const ImageGeometry& geometry,
                            const std::vector<int64_t>& chosen) {
  std::vector<int64_t> indices = chosen;
  if (indices.empty())
    for (size_t i = 0; i < folder.files.size(); ++i) indices.push_back(int64_t(i));
  const int64_t n = static_cast<int64_t>(indices.size()), channels = geometry.channels;
  auto source = [&](int64_t i) { return folder.name(size_t(indices[size_t(i)])); };
  auto decode = [&](int64_t i) {
    return decode_image(folder.read(size_t(indices[size_t(i)])), source(i), channels, geometry.max_pixels);
  };

  // The target size: the geometry's, or the first readable image's own.
  int64_t height = 0, width = 0;
  if (geometry.size.size() == 2) {
    height = geometry.size[0];
    width = geometry.size[1];
  } else if (geometry.size.size() == 1) {
    height = width = geometry.size[0];
  } else {
    ImageU8 first = decode(0);
    height = first.height;
    width = first.width;
  }

  const auto start = std::chrono::steady_clock::now();
  fmt::print("decoding {} images from {} to {} x {} x {}\n", n, folder.root.string(), channels, height, width);
  std::fflush(stdout);
  torch::Tensor images = torch::empty({n, channels, height, width}, torch::kUInt8);
  std::vector<std::string> errors(static_cast<size_t>(n));
  uint8_t* out = images.data_ptr<uint8_t>();
  const int64_t plane = height * width;
  // A live count on a terminal, redrawn by whichever thread is free to; the threads never wait for it.
  Progress progress(0, n, "images");
  std::atomic<int64_t> done{0};
  std::mutex drawing;
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i, ++done) {
      if (std::unique_lock<std::mutex> lock(drawing, std::try_to_lock); lock) progress.update(done, "");
      try {
        const ImageU8 image = fit(decode(i), geometry, height, width, source(i));
        uint8_t* target = out + i * channels * plane;
        for (int64_t p = 0; p < plane; ++p)
          for (int64_t c = 0; c < channels; ++c) target[c * plane + p] = image.pixels[p * channels + c];
      } catch (const std::exception& e) {
        errors[size_t(i)] = e.what();
      }
    }
  });
  progress.update(n, "");
  progress.finish_line();

  std::vector<int64_t> good;
  std::vector<std::string> bad;
  for (int64_t i = 0; i < n; ++i) {
    if (errors[size_t(i)].empty())
      good.push_back(i);
    else
      bad.push_back(errors[size_t(i)]);
  }
  if (!bad.empty() && !geometry.skip_bad_images) {
    std::string listed;
    for (size_t k = 0; k < bad.size() && k < 10; ++k) listed += (k ? "; " : "") + bad[k];
    throw DataError(
        fmt::format("{} of {} images cannot be used ({}{}); fix or remove them, or set "
                    "data.skip_bad_images = true to leave them out",
                    bad.size(), n, listed, bad.size() > 10 ? "; ..." : ""));
  }
  if (good.empty()) throw DataError(fmt::format("{}: none of its {} images can be used", folder.root.string(), n));

  DecodedImages decoded;
  decoded.skipped = bad;
  std::vector<int64_t> labels;
  for (int64_t i : good) labels.push_back(folder.labels[size_t(indices[size_t(i)])]);
  decoded.data.labels = torch::tensor(labels, torch::kLong);
  decoded.data.images = bad.empty() ? images : images.index_select(0, torch::tensor(good, torch::kLong));
  fmt::print("decoded {} images in {:.1f} s{}\n", good.size(),
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
             bad.empty() ? "" : fmt::format(" ({} skipped)", bad.size()));
  return decoded;
}

}  // namespace genbox
