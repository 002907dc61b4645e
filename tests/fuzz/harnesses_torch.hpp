// Fuzz harnesses for the readers that need LibTorch (see harnesses.hpp for the contract).
#pragma once

#include <cstddef>
#include <cstdint>

namespace genbox::fuzz {

// A COCO detection annotation file (with no image files beside it).
int coco(const uint8_t* data, size_t size);
// A checkpoint file, loaded for evaluation and for a resume into a small model.
int checkpoint(const uint8_t* data, size_t size);
// A zip of images as data.dataset = "zip" reads it: its directory, dataset.json and every image.
int zip(const uint8_t* data, size_t size);
// A CIFAR-10 test_batch.bin and a CIFAR-100 test.bin.
int cifar(const uint8_t* data, size_t size);
// A NumPy .npz archive (FID statistics), and the same bytes as one .npy array.
int npz(const uint8_t* data, size_t size);

}  // namespace genbox::fuzz
