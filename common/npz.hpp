// NumPy's .npy arrays and .npz archives of them (numpy.lib.format, version 1.0 and 2.0 headers):
// the files pytorch-fid, EDM and clean-fid keep Inception statistics in ({"mu": [D] float64,
// "sigma": [D, D] float64}), and the format of precomputed latents. Read: entries stored or
// deflated (np.savez, np.savez_compressed), little-endian bool, integer and float types, C order
// (Fortran order is transposed back). Written: C-order arrays, entries stored (as np.savez does),
// the file replaced atomically.
#pragma once

#include <torch/types.h>

#include <filesystem>
#include <map>
#include <string>

namespace genbox {

// One .npy file's bytes as a tensor (a copy); `source` names it in a DataError ("SOURCE: ...")
// for a bad magic, header, type or length.
torch::Tensor parse_npy(const std::string& bytes, const std::string& source);
// A CPU tensor's .npy bytes (version 1.0 header, C order).
std::string format_npy(const torch::Tensor& tensor);

// Every array of the archive by name (without ".npy"); a DataError naming the file and the entry
// when the archive or an array cannot be read.
std::map<std::string, torch::Tensor> read_npz(const std::filesystem::path& path);
// Writes the arrays as an uncompressed .npz, atomically.
void write_npz(const std::filesystem::path& path, const std::map<std::string, torch::Tensor>& arrays);

}  // namespace genbox
