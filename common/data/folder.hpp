// A folder of the user's own images as a data set (data.dataset = "folder"), or a zip of them
// (data.dataset = "zip").
//
// Every image file under the root is found recursively (directory symlinks are not followed, so
// a symlink loop cannot trap the search) and sorted by its path. Labels follow torchvision's
// ImageFolder: with sub-folders, an image's class is the position of its top-level folder's name
// in their sorted order; with images at the top level only, the set is unlabelled (every label
// 0). A dataset.json beside the images in EDM's format, {"labels": [["relative/path.png", 3],
// ...]}, overrides those labels (every image must be listed; "labels": null means unlabelled).
//
// Each image is decoded (common/data/decode.hpp), fitted to the geometry (crop: "center" as ADM
// and DiT crop, "resize" stretches, "none" requires the size) and stored as uint8 [C, H, W];
// files are decoded on every core.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/data/datasets.hpp"

namespace genbox {

struct ImageGeometry {
  std::vector<int64_t> size;        // [] the images' own size (all alike), [S] square, [H, W]
  int64_t channels = 3;             // 1 or 3; 0 (fit_images): the images' own
  std::string crop = "center";      // center | resize | none
  int64_t max_pixels = 50'000'000;  // larger images are refused before they are decoded
  bool skip_bad_images = false;     // skip undecodable images (counted) instead of stopping
};

struct ImageFolder {
  std::filesystem::path root;      // the folder, or the zip archive
  std::vector<std::string> files;  // paths relative to root (entry names in a zip), sorted, '/'-separated
  std::vector<int64_t> labels;
  std::vector<std::string> class_names;  // empty when unlabelled
  // The bytes of files[i] (from root / files[i], or the archive's entry), and its name in messages.
  std::function<std::string(size_t)> read;
  std::string name(size_t i) const;
};

// The images under `root` and their labels; a DataError names the folder or file at fault (no
// images, a class folder without images, a name that is not UTF-8, a dataset.json that is
// malformed, names a missing file, lacks one or has a negative label).
ImageFolder list_image_folder(const std::filesystem::path& root);

// The same for a zip archive of images, read in place (mapped, never unpacked), as EDM's
// dataset_tool writes them: entries stored or deflated, a dataset.json entry for labels, or
// ImageFolder's class folders inside. A damaged directory or entry names the archive and entry.
ImageFolder list_image_zip(const std::filesystem::path& archive);

struct DecodedImages {
  ImageDataset data;                 // uint8 [N, C, H, W], labels int64 [N]
  std::vector<std::string> skipped;  // with skip_bad_images: the files left out, and why
  bool from_cache = false;           // read from the prepared-set cache (common/data/prepared_cache.hpp)
};

// Decodes `indices` of the folder's files (all when empty) into one data set. A bad image stops
// it with a DataError listing up to ten bad files, unless the geometry skips them.
DecodedImages decode_folder(const ImageFolder& folder, const ImageGeometry& geometry,
                            const std::vector<int64_t>& indices = {});

// A set already in memory (IDX, CIFAR: uint8 [N, C, H, W], C 1 or 3) converted to the geometry's
// channels and fitted to its size as a folder's images are, image by image on every core; the
// same tensor when nothing changes. `source` names the set in a crop = "none" refusal.
torch::Tensor fit_images(const torch::Tensor& images, const ImageGeometry& geometry, const std::string& source);

}  // namespace genbox
