// CIFAR-10 and CIFAR-100 in their binary releases (Krizhevsky 2009, "Learning Multiple Layers of
// Features from Tiny Images"; the "binary version" downloads). Each file is a run of fixed-size
// records of 32 x 32 colour images:
//   CIFAR-10  cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin: 1 label byte (0..9), then
//             3072 pixel bytes: the red plane, the green, the blue, each 32 rows of 32.
//   CIFAR-100 cifar-100-binary/{train,test}.bin: a coarse label byte (0..19), a fine label
//             byte (0..99), then the same 3072 pixel bytes.
#pragma once

#include <string>

#include "common/data/datasets.hpp"

namespace genbox {

struct CifarSet {
  std::string name;            // "cifar10" | "cifar100"
  bool coarse_labels = false;  // CIFAR-100's 20 superclasses instead of its 100 classes
};

// The split ("train" or "test") from `root`, the folder the .bin files are in or the folder that
// holds cifar-10-batches-bin / cifar-100-binary; `limit` > 0 keeps the first `limit` images.
// Images uint8 [N, 3, 32, 32], labels int64 [N]. A missing file, a length that is not a whole
// number of records, or a label out of range is a DataError naming the file (and the record).
ImageDataset load_cifar(const std::string& root, const CifarSet& set, const std::string& split, int64_t limit = 0);

// Writes images and labels as one CIFAR binary file (coarse labels as fine / 5 for CIFAR-100),
// for fixtures.
void write_cifar(const std::string& path, const CifarSet& set, const ImageDataset& data);

}  // namespace genbox
