#include <doctest/doctest.h>

#include <torch/torch.h>
#include <turbojpeg.h>
#include <zlib.h>

#include <functional>

#include <nlohmann/json.hpp>

#include "base/errors.hpp"
#include "common/data/decode.hpp"
#include "common/data/folder.hpp"
#include "common/images.hpp"
#include "tests/support.hpp"

using namespace genbox;
using namespace genbox::testing;

namespace {

// A PNG of h x w pixels (3 channels) whose content depends on `seed`.
void png(const std::filesystem::path& path, int64_t h, int64_t w, int64_t seed = 0) {
  std::filesystem::create_directories(path.parent_path());
  torch::manual_seed(seed);
  write_png(path, torch::rand({3, h, w}));
}

// A PNG signature and IHDR chunk declaring `width` x `height` RGB pixels, and nothing after.
std::string png_header_only(uint32_t width, uint32_t height) {
  std::string bytes = "\x89PNG\r\n\x1a\n";
  auto be32 = [&](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes += static_cast<char>((v >> shift) & 0xff);
  };
  be32(13);
  bytes += "IHDR";
  be32(width);
  be32(height);
  bytes += std::string("\x08\x02\x00\x00\x00", 5);
  be32(0);  // CRC, unchecked by the decoder
  return bytes;
}
// A JPEG (quality 90, 4:2:0) of h x w RGB pixels of noise seeded by `seed`, by libjpeg-turbo's encoder.
std::string jpeg(int h, int w, int seed = 0) {
  torch::manual_seed(seed);
  const torch::Tensor pixels = torch::randint(0, 256, {h, w, 3}, torch::kUInt8);
  tjhandle encoder = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  REQUIRE(tjCompress2(encoder, pixels.data_ptr<uint8_t>(), w, 0, h, TJPF_RGB, &out, &size, TJSAMP_420, 90, 0) == 0);
  std::string bytes(reinterpret_cast<const char*>(out), size);
  tjFree(out);
  tjDestroy(encoder);
  return bytes;
}

// A 16-bit grey PNG of h x w pixels with sample value `value(y, x)`, written chunk by chunk.
std::string png16(int64_t h, int64_t w, const std::function<uint16_t(int64_t, int64_t)>& value) {
  auto chunk = [](const std::string& type, const std::string& data) {
    std::string out;
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((data.size() >> shift) & 0xff);
    out += type + data;
    const std::string crc_input = type + data;
    const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(crc_input.data()), uInt(crc_input.size()));
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((crc >> shift) & 0xff);
    return out;
  };
  std::string header;
  for (int64_t v : {w, h})
    for (int shift = 24; shift >= 0; shift -= 8) header += static_cast<char>((v >> shift) & 0xff);
  header += std::string("\x10\x00\x00\x00\x00", 5);  // 16 bits, grey, deflate, no filter, no interlace
  std::string rows;
  for (int64_t y = 0; y < h; ++y) {
    rows += '\0';
    for (int64_t x = 0; x < w; ++x)
      rows += {static_cast<char>(value(y, x) >> 8), static_cast<char>(value(y, x) & 0xff)};
  }
  uLongf size = compressBound(uLong(rows.size()));
  std::string packed(size, '\0');
  compress(reinterpret_cast<Bytef*>(packed.data()), &size, reinterpret_cast<const Bytef*>(rows.data()),
           uLong(rows.size()));
  packed.resize(size);
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", header) + chunk("IDAT", packed) + chunk("IEND", "");
}
}  // namespace

TEST_CASE("a 16-bit PNG keeps each sample's high byte, repeated to RGB") {
  TempDir dir;
  auto value = [](int64_t y, int64_t x) { return static_cast<uint16_t>(y * 5000 + x * 300 + 7); };
  write_text(dir / "deep.png", png16(6, 9, value));
  const DecodedImages decoded = decode_folder(list_image_folder(dir.path()), ImageGeometry{{}, 3, "none"});
  REQUIRE(decoded.data.images.sizes() == torch::IntArrayRef({1, 3, 6, 9}));
  for (int64_t y = 0; y < 6; ++y)
    for (int64_t x = 0; x < 9; ++x)
      for (int64_t c = 0; c < 3; ++c) CHECK(decoded.data.images[0][c][y][x].item<int>() == value(y, x) >> 8);
}

TEST_CASE("every kind of image decodes and fits as Pillow and ADM's centre crop make it") {
  const std::string python = reference_python();
  if (python.empty() || run_command(python + " -c 'import PIL, numpy'").exit_code != 0) {
    MESSAGE("skipped: no venv Python with Pillow (scripts/setup installs it)");
    return;
  }
  TempDir dir;
  auto made = run_command(python + " " + (source_dir() / "bench/image_oracle.py").string() + " " + dir.path().string());
  INFO(made.output);
  REQUIRE(made.exit_code == 0);
  const nlohmann::json index = nlohmann::json::parse(read_text(dir / "index.json"));
  const ImageFolder folder = list_image_folder(dir / "images");
  REQUIRE(folder.files.size() == index["images"].size());
  CHECK(folder.class_names.empty());
  for (const auto& [key, g] : index["geometries"].items()) {
    CAPTURE(key);
    ImageGeometry geometry;
    geometry.size = {g["height"].get<int64_t>(), g["width"].get<int64_t>()};
    geometry.channels = g["channels"].get<int64_t>();
    geometry.crop = g["crop"].get<std::string>();
    const DecodedImages decoded = decode_folder(folder, geometry);
    REQUIRE(decoded.data.images.sizes() ==
            torch::IntArrayRef({int64_t(folder.files.size()), geometry.channels, geometry.size[0], geometry.size[1]}));
    for (size_t i = 0; i < folder.files.size(); ++i) {
      const std::string name = folder.files[i];
      CAPTURE(name);
      const std::string expected_bytes = read_text(dir / "expected" / key / (name + ".bin"));
      const torch::Tensor expected =
          torch::from_blob(const_cast<char*>(expected_bytes.data()), {int64_t(expected_bytes.size())}, torch::kUInt8)
              .view(decoded.data.images[int64_t(i)].sizes())
              .to(torch::kInt);
      const torch::Tensor difference = (decoded.data.images[int64_t(i)].to(torch::kInt) - expected).abs();
      // JPEGs too: both sides decode them with libjpeg-turbo's defaults.
      CHECK(difference.max().item<int>() == 0);
    }
  }
}

TEST_CASE("a folder's labels follow ImageFolder's sorted class folders, or its dataset.json") {
  TempDir dir;
  png(dir / "b_cats/1.png", 4, 4);
  png(dir / "b_cats/deeper/2.png", 4, 4);
  png(dir / "a_dogs/3.png", 4, 4);
  write_text(dir / "a_dogs/notes.txt", "not an image");
  ImageFolder folder = list_image_folder(dir.path());
  CHECK(folder.files == std::vector<std::string>{"a_dogs/3.png", "b_cats/1.png", "b_cats/deeper/2.png"});
  CHECK(folder.labels == std::vector<int64_t>{0, 1, 1});
  CHECK(folder.class_names == std::vector<std::string>{"a_dogs", "b_cats"});

  write_text(dir / "dataset.json",
             R"({"labels": [["a_dogs/3.png", 5], ["b_cats/1.png", 2], ["b_cats/deeper/2.png", 0]]})");
  folder = list_image_folder(dir.path());
  CHECK(folder.labels == std::vector<int64_t>{5, 2, 0});
  CHECK(folder.class_names.size() == 6);
  write_text(dir / "dataset.json", R"({"labels": null})");
  CHECK(list_image_folder(dir.path()).labels == std::vector<int64_t>{0, 0, 0});

  const std::string json = (dir / "dataset.json").string();
  write_text(dir / "dataset.json", R"({"labels": [["a_dogs/3.png", 1], ["b_cats/1.png", 1]]})");
  CHECK(data_error_of([&] { list_image_folder(dir.path()); }) == json + ": has no label for b_cats/deeper/2.png");
  write_text(dir / "dataset.json",
             R"({"labels": [["a_dogs/3.png", 1], ["b_cats/1.png", 1], ["b_cats/deeper/2.png", 0], ["gone.png", 1]]})");
  CHECK(data_error_of([&] { list_image_folder(dir.path()); }) ==
        json + ": names gone.png, which is not an image under " + dir.path().string());
  write_text(dir / "dataset.json", R"({"labels": [["a_dogs/3.png", -1]]})");
  CHECK(data_error_of([&] { list_image_folder(dir.path()); }) ==
        json + ": label -1 for a_dogs/3.png; labels are whole numbers >= 0");
  write_text(dir / "dataset.json", R"({"labels": {"a": 1}})");
  CHECK(data_error_of([&] { list_image_folder(dir.path()); }) ==
        json + ": \"labels\" must be an array of [\"path\", label] pairs or null, not an object");
}

TEST_CASE("a folder that cannot be a data set says which file or folder is at fault") {
  TempDir dir;
  CHECK(data_error_of([&] { list_image_folder(dir / "absent"); }) == (dir / "absent").string() + ": no such folder");
  CHECK(data_error_of([&] { list_image_folder(dir.path()); }).find(": no images under it") != std::string::npos);
  png(dir / "cats/1.png", 4, 4);
  std::filesystem::create_directories(dir / "dogs");
  CHECK(data_error_of([&] { list_image_folder(dir.path()); }) ==
        (dir / "dogs").string() + ": a class folder with no images");
  png(dir / "dogs/2.png", 4, 4);
  png(dir / "loose.png", 4, 4);
  CHECK(data_error_of([&] { list_image_folder(dir.path()); }).find("loose.png: an image beside class folders") !=
        std::string::npos);
  std::filesystem::remove(dir / "loose.png");
  // A symlink loop is not followed, so the search ends; a name that is not UTF-8 is named.
  std::filesystem::create_directory_symlink(dir.path(), dir / "cats/loop");
  CHECK(list_image_folder(dir.path()).files.size() == 2);
  png(dir / "dogs/caf\xe9.png", 4, 4);
  CHECK(data_error_of([&] {
          list_image_folder(dir.path());
        }).find("dogs/caf\\xe9.png: a file name that is not UTF-8") != std::string::npos);
}

TEST_CASE("bad images stop the decoding with up to ten named, or are skipped and counted") {
  TempDir dir;
  png(dir / "good.png", 12, 10);
  png(dir / "wide.png", 12, 30, 1);
  std::string truncated = read_text(dir / "good.png");
  write_text(dir / "truncated.png", truncated.substr(0, truncated.size() / 2));
  write_text(dir / "text.jpg", "this is not a JPEG");
  write_text(dir / "huge.png", png_header_only(100000, 100000));
  const ImageFolder folder = list_image_folder(dir.path());
  ImageGeometry geometry;
  geometry.size = {8};
  const std::string error = data_error_of([&] { decode_folder(folder, geometry); });
  CHECK(error.find("3 of 5 images cannot be used (") == 0);
  CHECK(error.find("huge.png: 100000 x 100000 pixels, more than data.max_pixels = 50000000") != std::string::npos);
  CHECK(error.find("text.jpg: not an image genbox can decode") != std::string::npos);
  CHECK(error.find("truncated.png: cannot decode") != std::string::npos);
  CHECK(error.find("data.skip_bad_images = true") != std::string::npos);

  geometry.skip_bad_images = true;
  DecodedImages decoded = decode_folder(folder, geometry);
  CHECK(decoded.data.images.sizes() == torch::IntArrayRef({2, 3, 8, 8}));
  CHECK(decoded.skipped.size() == 3);

  // crop = none: every image must have the size; the first that does not is named.
  geometry.crop = "none";
  geometry.size = {12, 10};
  geometry.skip_bad_images = false;
  CHECK(data_error_of([&] {
          decode_folder(folder, geometry, {0, 4});
        }).find("wide.png: 12 x 30 pixels, but data.crop = \"none\" needs every image to be 12 x 10") !=
        std::string::npos);
  const DecodedImages own = decode_folder(folder, ImageGeometry{{}, 3, "none"}, {0});
  CHECK(own.data.images.sizes() == torch::IntArrayRef({1, 3, 12, 10}));
  // Grey from colour: every image converted.
  const DecodedImages grey = decode_folder(folder, ImageGeometry{{6}, 1, "resize"}, {0, 4});
  CHECK(grey.data.images.sizes() == torch::IntArrayRef({2, 1, 6, 6}));
}

TEST_CASE("a JPEG cut short, with a broken header or declaring too many pixels is refused, naming it") {
  const std::string photo = jpeg(40, 56);
  const ImageU8 whole = decode_image(photo, "photo.jpg", 3, 1 << 20);
  CHECK((whole.height == 40 && whole.width == 56 && whole.channels == 3));
  auto error = [](const std::string& bytes, int64_t max_pixels = 1 << 20) {
    return data_error_of([&] { decode_image(bytes, "x.jpg", 3, max_pixels); });
  };
  CHECK(error(photo.substr(0, photo.size() / 2)) == "x.jpg: cannot decode (Premature end of JPEG file)");
  // The markers after the start-of-image marker replaced by noise: no frame header to read.
  std::string broken = photo;
  for (size_t i = 3; i < 200; ++i) broken[i] = static_cast<char>(i * 37);
  CHECK(error(broken).rfind("x.jpg: not a JPEG genbox can decode (", 0) == 0);
  // The frame header (SOF0: FF C0, length, precision, height, width) declaring 60000 x 50000.
  std::string huge = photo;
  const size_t frame = huge.find("\xff\xc0");
  REQUIRE(frame != std::string::npos);
  huge.replace(frame + 5, 4, std::string("\xea\x60\xc3\x50", 4));
  CHECK(error(huge) == "x.jpg: 60000 x 50000 pixels, more than data.max_pixels = 1048576");
  CHECK(error(photo, 40 * 56 - 1) == "x.jpg: 40 x 56 pixels, more than data.max_pixels = 2239");
}

TEST_CASE("a zip of images reads as the folder it was made from, stored or deflated, with its dataset.json") {
  TempDir dir;
  png(dir / "images/cats/1.png", 10, 12, 1);
  png(dir / "images/cats/2.png", 14, 9, 2);
  png(dir / "images/dogs/3.png", 11, 11, 3);
  const std::string zip_it =
      "python3 -c \"import sys, zipfile, os\n"
      "root, out, method = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
      "with zipfile.ZipFile(out, 'w', method) as z:\n"
      "  for d, _, fs in sorted(os.walk(root)):\n"
      "    for f in sorted(fs): p = os.path.join(d, f); z.write(p, os.path.relpath(p, root))\n\" ";
  REQUIRE(run_command(zip_it + (dir / "images").string() + " " + (dir / "stored.zip").string() + " 0").exit_code == 0);
  ImageGeometry geometry;
  geometry.size = {8};
  const ImageFolder folder = list_image_folder(dir / "images");
  const DecodedImages expected = decode_folder(folder, geometry);
  const ImageFolder stored = list_image_zip(dir / "stored.zip");
  CHECK(stored.files == folder.files);
  CHECK(stored.labels == folder.labels);
  CHECK(stored.class_names == folder.class_names);
  CHECK(decode_folder(stored, geometry).data.images.equal(expected.data.images));

  write_text(dir / "images/dataset.json", R"({"labels": [["cats/1.png", 4], ["cats/2.png", 0], ["dogs/3.png", 2]]})");
  REQUIRE(run_command(zip_it + (dir / "images").string() + " " + (dir / "deflated.zip").string() + " 8").exit_code ==
          0);
  const ImageFolder deflated = list_image_zip(dir / "deflated.zip");
  CHECK(deflated.labels == std::vector<int64_t>{4, 0, 2});
  CHECK(decode_folder(deflated, geometry).data.images.equal(expected.data.images));

  // A damaged directory, and a flipped byte in an image entry, name the archive (and the entry).
  const std::string bytes = read_text(dir / "stored.zip");
  write_text(dir / "cut.zip", bytes.substr(0, bytes.size() - 30));
  CHECK(data_error_of([&] { list_image_zip(dir / "cut.zip"); }).find("cut.zip: not a readable zip archive") !=
        std::string::npos);
  std::string flipped = bytes;
  flipped[flipped.find("IDAT") + 20] ^= 1;  // inside the first image's pixel data
  write_text(dir / "flipped.zip", flipped);
  const ImageFolder damaged = list_image_zip(dir / "flipped.zip");
  CHECK(data_error_of([&] {
          decode_folder(damaged, geometry);
        }).find("flipped.zip: entry 'cats/1.png' does not match its CRC-32") != std::string::npos);
}
