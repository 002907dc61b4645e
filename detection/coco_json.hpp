// COCO-format detection sets (annotation JSON + image files): reading into DetectionDataset and
// writing ground truth back out, so that results can be checked with pycocotools.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "detection/dataset.hpp"
#include "detection/targets.hpp"

namespace genbox::detection {

// The file's identifiers behind the contiguous indices the library works with.
struct CocoCatalog {
  std::vector<int64_t> image_ids;           // per image, in the order of the dataset
  std::vector<std::string> file_names;      // per image, relative to the image directory
  std::vector<int64_t> category_ids;        // per class index: class k is the k-th smallest id
  std::vector<std::string> category_names;  // per class index
};

// Ids and file names equal to the indices ("000000.png", ...); class k is named class_names[k],
// or its number where the list ends.
CocoCatalog index_catalog(int64_t images, int64_t classes, const std::vector<std::string>& class_names = {});

struct CocoDataset {
  DetectionDataset data;  // images as loaded (shrunk to max_size) and their targets, crowds apart
  // Per image, the ground truth in the file's own pixels (its width and height, the annotations'
  // boxes clipped to the image, their areas, crowds included): what evaluation scores, as
  // pycocotools would on the file itself.
  std::vector<Targets> truth;
  CocoCatalog catalog;
};

struct CocoReadOptions {
  int channels = 3;        // images are decoded to this many channels
  int64_t limit = 0;       // > 0: only the first `limit` images of the file
  int64_t max_size = 512;  // > 0: images whose longer side exceeds this are shrunk to it (boxes too)
};

// Reads the "images" (id, file_name, width, height), "categories" (id, name) and "annotations"
// (image_id, category_id, bbox [x, y, w, h], optional area and iscrowd) of a COCO detection file;
// image files are found under image_dir. Boxes are clipped to their image and dropped if nothing
// is left; an annotation without "area" gets its box area. Crowd annotations (iscrowd 1) become
// the targets' crowd regions, never objects to train on. In data, boxes and areas are scaled with
// their image; truth keeps them as the file has them. A missing, unreadable or malformed file, an
// image whose size differs from its entry, or a reference to an unknown image or category throws
// DataError naming the file (and the entry).
CocoDataset read_coco_detection(const std::filesystem::path& annotation_file, const std::filesystem::path& image_dir,
                                const CocoReadOptions& options = {});

// Writes targets as a COCO ground-truth file (images of the targets' sizes; bbox as [x, y, w, h],
// the target areas, iscrowd 0 for objects and 1 for crowd regions; annotation ids from 1) under
// the catalog's ids, for pycocotools' COCO() next to the results written by write_coco_results.
void write_coco_annotations(const std::filesystem::path& path, const std::vector<Targets>& targets,
                            const CocoCatalog& catalog);

}  // namespace genbox::detection
