// A folder's decoded and fitted images, kept so that the next start reads them instead of
// decoding every file again.
//
// <cache_dir>/<key>.images, where the key is 16 hex digits of a 64-bit FNV-1a hash of the file
// format's version, the geometry, and every chosen file's path, size and modification time (and
// dataset.json's, whose labels it holds; for a zip, the archive's): a changed, added or removed
// file, or another geometry, makes another key. The file is "genbox-prepared-images 1\n", the header's length (8 bytes,
// little-endian), the header (JSON: n, channels, height, width, labels, skipped files), the CRC-32
// of header and pixels (4 bytes), then the pixels, uint8 [N, C, H, W]. It is written whole and
// renamed into place, so two processes preparing the same set at once each leave a whole file;
// it is read by mapping it, checked against its CRC-32 first (ISA-L, several GB/s), and one that
// does not check out is decoded again, saying why.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/data/folder.hpp"

namespace genbox {

// $XDG_CACHE_HOME/genbox/prepared, or ~/.cache/genbox/prepared.
std::filesystem::path default_prepared_cache_dir();

// decode_folder's result, from the cache when it holds this exact set, else decoded and cached.
DecodedImages prepared_images(const ImageFolder& folder, const ImageGeometry& geometry,
                              const std::vector<int64_t>& indices, const std::filesystem::path& cache_dir);

}  // namespace genbox
