#include "common/data/prepared_cache.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

#include "base/errors.hpp"
#include "base/fsutil.hpp"
#include "common/zip_integrity.hpp"

namespace genbox {

namespace fs = std::filesystem;

namespace {
constexpr std::string_view kMagic = "genbox-prepared-images 1\n";

// What decides the prepared set's bytes, hashed into the file's name.
std::string cache_key(const ImageFolder& folder, const ImageGeometry& geometry, const std::vector<int64_t>& indices) {
  std::string text = fmt::format("{}|{}|{}|{}|{}|{}", kMagic, fmt::join(geometry.size, "x"), geometry.channels,
                                 geometry.crop, geometry.max_pixels, geometry.skip_bad_images);
  auto add_file = [&](const fs::path& path) {
    text += "|" + path.string();
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0)
      text += fmt::format("|{}|{}.{}", info.st_size, info.st_mtim.tv_sec, info.st_mtim.tv_nsec);
  };
  // The root itself: a zip archive's size and time stand for its entries'.
  add_file(folder.root);
  add_file(folder.root / "dataset.json");
  for (int64_t i : indices) add_file(folder.root / folder.files[size_t(i)]);
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  return fmt::format("{:016x}", hash);
}

// The prepared set in `path`, mapped; std::nullopt with `why` set when it is absent or does not
// check out.
std::optional<DecodedImages> read_prepared(const fs::path& path, std::string& why) {
  std::error_code error;
  if (!fs::exists(path, error)) return std::nullopt;
  std::shared_ptr<const MappedFile> mapped;
  try {
    mapped = std::make_shared<const MappedFile>(path);
  } catch (const DataError& e) {
    why = std::string(e.what()).substr(path.string().size() + 2);  // its reason, without "PATH: "
    return std::nullopt;
  }
  const size_t size = mapped->bytes().size();
  const char* bytes = mapped->data();
  try {
    const size_t prefix = kMagic.size() + 8;
    if (size < prefix + 4 || std::string_view(bytes, kMagic.size()) != kMagic) throw DataError("not a prepared set");
    uint64_t header_size = 0;
    std::memcpy(&header_size, bytes + kMagic.size(), 8);
    if (header_size > size - prefix - 4) throw DataError("truncated");
    const std::string_view header(bytes + prefix, header_size);
    const nlohmann::json h = parse_json(std::string(header), path.string());
    const int64_t n = h.at("n"), c = h.at("channels"), height = h.at("height"), width = h.at("width");
    const size_t pixels_at = prefix + header_size + 4;
    if (n < 0 || c <= 0 || height <= 0 || width <= 0 || size != pixels_at + size_t(n * c * height * width))
      throw DataError("truncated or of the wrong length");
    uint32_t stored = 0;
    std::memcpy(&stored, bytes + prefix + header_size, 4);
    const uint32_t crc = crc32_of(std::string_view(bytes + pixels_at, size - pixels_at), crc32_of(header));
    if (crc != stored) throw DataError("damaged (its CRC-32 does not match)");
    DecodedImages decoded;
    decoded.data.labels = torch::tensor(h.at("labels").get<std::vector<int64_t>>(), torch::kLong);
    decoded.skipped = h.at("skipped").get<std::vector<std::string>>();
    decoded.data.images = torch::from_blob(
        mapped->data() + pixels_at, {n, c, height, width}, [mapped](void*) {}, torch::kUInt8);
    decoded.from_cache = true;
    return decoded;
  } catch (const std::exception& e) {
    why = e.what();
    return std::nullopt;
  }
}

void write_prepared(const fs::path& path, const DecodedImages& decoded) {
  const torch::Tensor images = decoded.data.images.contiguous();
  const nlohmann::json h = {
      {"n", images.size(0)},
      {"channels", images.size(1)},
      {"height", images.size(2)},
      {"width", images.size(3)},
      {"labels", std::vector<int64_t>(decoded.data.labels.data_ptr<int64_t>(),
                                      decoded.data.labels.data_ptr<int64_t>() + decoded.data.labels.numel())},
      {"skipped", decoded.skipped}};
  const std::string header = h.dump();
  const std::string_view pixels(static_cast<const char*>(images.data_ptr()), images.nbytes());
  const uint64_t header_size = header.size();
  const uint32_t crc = crc32_of(pixels, crc32_of(header));
  std::string prefix(kMagic);
  prefix.append(reinterpret_cast<const char*>(&header_size), 8);
  std::string crc_bytes(reinterpret_cast<const char*>(&crc), 4);
  fs::create_directories(path.parent_path());
  write_file_atomic(path, {prefix, header, crc_bytes, pixels});
}
}  // namespace

fs::path default_prepared_cache_dir() { return user_cache_home() / "genbox" / "prepared"; }

DecodedImages prepared_images(const ImageFolder& folder, const ImageGeometry& geometry,
                              const std::vector<int64_t>& indices, const fs::path& cache_dir) {
  std::vector<int64_t> chosen = indices;
  if (chosen.empty())
    for (size_t i = 0; i < folder.files.size(); ++i) chosen.push_back(int64_t(i));
  const fs::path path = cache_dir / (cache_key(folder, geometry, chosen) + ".images");
  std::string why;
  const auto start = std::chrono::steady_clock::now();
  if (std::optional<DecodedImages> cached = read_prepared(path, why)) {
    fmt::print("read {} prepared images from {} in {:.2f} s\n", cached->data.size(), path.string(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return *cached;
  }
  if (!why.empty()) fmt::print("{}: {}; decoding the images again\n", path.string(), why);
  DecodedImages decoded = decode_folder(folder, geometry, chosen);
  try {
    write_prepared(path, decoded);
  } catch (const std::exception& e) {
    // A cache that cannot be written costs the next start a decode, not this run.
    fmt::print("cannot keep the prepared images: {}\n", e.what());
  }
  return decoded;
}

}  // namespace genbox
