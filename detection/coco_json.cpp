#include "detection/coco_json.hpp"

#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <type_traits>

#include "base/errors.hpp"
#include "base/fsutil.hpp"
#include "common/images.hpp"

namespace genbox::detection {

namespace {
using nlohmann::json;

// A field of a JSON object, or DataError naming the file, the entry and the field.
template <typename T>
T field(const json& entry, const char* key, const std::filesystem::path& file, const std::string& where) {
  auto it = entry.find(key);
  if (it == entry.end()) throw DataError(fmt::format("{}: {} has no \"{}\"", file.string(), where, key));
  if constexpr (std::is_integral_v<T>) {
    // JSON numbers convert to integers only when they are whole and in range: anything else
    // would be undefined behaviour, not a value.
    const bool in_range =
        it->is_number_integer()
            ? !(it->is_number_unsigned() && it->template get<uint64_t>() > uint64_t(std::numeric_limits<T>::max()))
            : it->is_number_float() && std::isfinite(it->template get<double>()) &&
                  std::abs(it->template get<double>()) < 9e15 &&
                  std::trunc(it->template get<double>()) == it->template get<double>();
    if (!in_range)
      throw DataError(fmt::format("{}: {} has a \"{}\" that is not a whole number in range ({})", file.string(), where,
                                  key, it->dump().substr(0, 40)));
  }
  try {
    return it->get<T>();
  } catch (const json::exception& e) {
    throw DataError(fmt::format("{}: {} has a malformed \"{}\" ({})", file.string(), where, key, e.what()));
  }
}

const json& array_of(const json& root, const char* key, const std::filesystem::path& file) {
  auto it = root.find(key);
  if (it == root.end() || !it->is_array())
    throw DataError(fmt::format("{}: not a COCO detection file (no \"{}\" array)", file.string(), key));
  return *it;
}

json parse_file(const std::filesystem::path& file) {
  json root = parse_json(read_file(file), file.string());
  if (!root.is_object()) throw DataError(fmt::format("{}: a COCO file holds a JSON object", file.string()));
  return root;
}

// An image's objects or its crowd regions, as the file has them.
struct PendingBoxes {
  std::vector<std::array<double, 4>> boxes;  // clipped corner boxes
  std::vector<int64_t> labels;
  std::vector<double> areas;

  // The boxes scaled by (sx, sy), as tensors: labels [n], corner boxes [n, 4], areas [n].
  std::array<torch::Tensor, 3> scaled(double sx, double sy) const {
    const int64_t n = static_cast<int64_t>(boxes.size());
    torch::Tensor b = torch::zeros({n, 4}, torch::kDouble), a = torch::zeros({n}, torch::kDouble);
    for (int64_t k = 0; k < n; ++k) {
      b[k] = torch::tensor({boxes[k][0] * sx, boxes[k][1] * sy, boxes[k][2] * sx, boxes[k][3] * sy}, torch::kDouble);
      a[k] = areas[k] * sx * sy;
    }
    return {torch::tensor(labels, torch::kLong), b, a};
  }
};

struct PendingImage {
  int64_t id, width, height;
  std::string file_name;
  PendingBoxes objects, crowds;

  // The image's targets in a frame of height x width pixels, boxes scaled from the file's.
  Targets targets(int64_t frame_height, int64_t frame_width) const {
    const double sx = static_cast<double>(frame_width) / width, sy = static_cast<double>(frame_height) / height;
    auto [labels, boxes, areas] = objects.scaled(sx, sy);
    Targets t = make_targets(labels, boxes, frame_height, frame_width, areas);
    auto [crowd_labels, crowd_boxes, crowd_areas] = crowds.scaled(sx, sy);
    t.crowds = make_crowds(crowd_labels, crowd_boxes, crowd_areas);
    return t;
  }
};
}  // namespace

CocoCatalog index_catalog(int64_t images, int64_t classes, const std::vector<std::string>& class_names) {
  CocoCatalog c;
  for (int64_t i = 0; i < images; ++i) {
    c.image_ids.push_back(i);
    c.file_names.push_back(fmt::format("{:06d}.png", i));
  }
  for (int64_t k = 0; k < classes; ++k) {
    c.category_ids.push_back(k);
    c.category_names.push_back(k < static_cast<int64_t>(class_names.size()) ? class_names[k] : std::to_string(k));
  }
  return c;
}

CocoDataset read_coco_detection(const std::filesystem::path& annotation_file, const std::filesystem::path& image_dir,
                                const CocoReadOptions& options) {
  const std::filesystem::path& file = annotation_file;
  json root = parse_file(file);
  const json& image_entries = array_of(root, "images", file);
  const json& category_entries = array_of(root, "categories", file);
  const json& annotation_entries = array_of(root, "annotations", file);

  CocoDataset out;
  std::map<int64_t, std::string> categories;
  for (size_t i = 0; i < category_entries.size(); ++i) {
    std::string where = fmt::format("category entry {}", i);
    categories[field<int64_t>(category_entries[i], "id", file, where)] =
        category_entries[i].contains("name") ? field<std::string>(category_entries[i], "name", file, where) : "";
  }
  if (categories.empty())
    throw DataError(fmt::format("{}: lists no categories; a detector needs classes", file.string()));
  std::map<int64_t, int64_t> class_of_category;
  for (const auto& [id, name] : categories) {
    class_of_category[id] = static_cast<int64_t>(out.catalog.category_ids.size());
    out.catalog.category_ids.push_back(id);
    out.catalog.category_names.push_back(name);
  }

  std::vector<PendingImage> images;
  std::map<int64_t, size_t> image_of_id;
  std::set<int64_t> known_images;
  for (size_t i = 0; i < image_entries.size(); ++i) {
    std::string where = fmt::format("image entry {}", i);
    PendingImage p;
    p.id = field<int64_t>(image_entries[i], "id", file, where);
    known_images.insert(p.id);
    if (options.limit > 0 && static_cast<int64_t>(images.size()) >= options.limit) continue;
    p.file_name = field<std::string>(image_entries[i], "file_name", file, where);
    p.width = field<int64_t>(image_entries[i], "width", file, where);
    p.height = field<int64_t>(image_entries[i], "height", file, where);
    if (image_of_id.count(p.id)) throw DataError(fmt::format("{}: image id {} appears twice", file.string(), p.id));
    image_of_id[p.id] = images.size();
    images.push_back(p);
  }

  for (size_t i = 0; i < annotation_entries.size(); ++i) {
    const json& a = annotation_entries[i];
    std::string where = fmt::format("annotation entry {}", i);
    int64_t image_id = field<int64_t>(a, "image_id", file, where);
    int64_t category = field<int64_t>(a, "category_id", file, where);
    if (!known_images.count(image_id))
      throw DataError(fmt::format("{}: {} refers to unknown image id {}", file.string(), where, image_id));
    if (!class_of_category.count(category))
      throw DataError(fmt::format("{}: {} refers to unknown category id {}", file.string(), where, category));
    std::vector<double> bbox = field<std::vector<double>>(a, "bbox", file, where);
    if (bbox.size() != 4)
      throw DataError(fmt::format("{}: {} has a bbox of {} numbers", file.string(), where, bbox.size()));
    auto found = image_of_id.find(image_id);
    if (found == image_of_id.end()) continue;  // beyond the limit
    const bool crowd = a.contains("iscrowd") && field<int64_t>(a, "iscrowd", file, where) != 0;
    PendingImage& p = images[found->second];
    double x1 = std::clamp(bbox[0], 0.0, static_cast<double>(p.width));
    double y1 = std::clamp(bbox[1], 0.0, static_cast<double>(p.height));
    double x2 = std::clamp(bbox[0] + bbox[2], 0.0, static_cast<double>(p.width));
    double y2 = std::clamp(bbox[1] + bbox[3], 0.0, static_cast<double>(p.height));
    if (x2 <= x1 || y2 <= y1) continue;
    PendingBoxes& into = crowd ? p.crowds : p.objects;
    into.boxes.push_back({x1, y1, x2, y2});
    into.labels.push_back(class_of_category[category]);
    into.areas.push_back(a.contains("area") ? field<double>(a, "area", file, where) : bbox[2] * bbox[3]);
  }

  for (const PendingImage& p : images) {
    std::filesystem::path path = image_dir / p.file_name;
    torch::Tensor image = read_image(path, options.channels);
    if (image.size(1) != p.height || image.size(2) != p.width)
      throw DataError(fmt::format("{}: the image is {} x {} but {} says {} x {}", path.string(), image.size(2),
                                  image.size(1), file.string(), p.width, p.height));
    double scale = 1;
    const int64_t longer = std::max(p.width, p.height);
    if (options.max_size > 0 && longer > options.max_size) scale = static_cast<double>(options.max_size) / longer;
    int64_t height = std::max<int64_t>(1, std::lround(p.height * scale));
    int64_t width = std::max<int64_t>(1, std::lround(p.width * scale));
    if (scale != 1)
      image = torch::nn::functional::interpolate(image.unsqueeze(0), torch::nn::functional::InterpolateFuncOptions()
                                                                         .size(std::vector<int64_t>{height, width})
                                                                         .mode(torch::kBilinear)
                                                                         .align_corners(false)
                                                                         .antialias(true))[0];
    out.data.images.push_back((image * 255).round().clamp(0, 255).to(torch::kUInt8));
    out.data.targets.push_back(p.targets(height, width));
    out.truth.push_back(p.targets(p.height, p.width));
    out.catalog.image_ids.push_back(p.id);
    out.catalog.file_names.push_back(p.file_name);
  }
  return out;
}

void write_coco_annotations(const std::filesystem::path& path, const std::vector<Targets>& targets,
                            const CocoCatalog& catalog) {
  if (catalog.image_ids.size() != targets.size() || catalog.file_names.size() != targets.size() ||
      catalog.category_names.size() != catalog.category_ids.size())
    throw std::invalid_argument(fmt::format("COCO annotations: a catalog of {} images for {} targets",
                                            catalog.image_ids.size(), targets.size()));
  json images = json::array(), annotations = json::array(), categories = json::array();
  for (size_t k = 0; k < catalog.category_ids.size(); ++k)
    categories.push_back({{"id", catalog.category_ids[k]}, {"name", catalog.category_names[k]}});
  int64_t next_id = 1;
  for (size_t i = 0; i < targets.size(); ++i) {
    const Targets& t = targets[i];
    images.push_back(
        {{"id", catalog.image_ids[i]}, {"file_name", catalog.file_names[i]}, {"width", t.width}, {"height", t.height}});
    auto add = [&](const torch::Tensor& labels, const torch::Tensor& boxes_xyxy, const torch::Tensor& areas_of,
                   int crowd) {
      torch::Tensor boxes = boxes_xyxy.to(torch::kCPU, torch::kDouble);
      torch::Tensor areas = areas_of.to(torch::kCPU, torch::kDouble);
      for (int64_t j = 0; j < labels.size(0); ++j) {
        int64_t label = labels[j].item<int64_t>();
        if (label < 0 || label >= static_cast<int64_t>(catalog.category_ids.size()))
          throw std::invalid_argument(fmt::format("COCO annotations: class {} has no category id", label));
        double x1 = boxes[j][0].item<double>(), y1 = boxes[j][1].item<double>();
        annotations.push_back({{"id", next_id++},
                               {"image_id", catalog.image_ids[i]},
                               {"category_id", catalog.category_ids[label]},
                               {"bbox", {x1, y1, boxes[j][2].item<double>() - x1, boxes[j][3].item<double>() - y1}},
                               {"area", areas[j].item<double>()},
                               {"iscrowd", crowd}});
      }
    };
    if (t.size() > 0) add(t.labels, t.boxes_xyxy, t.areas, 0);
    if (t.crowds.size() > 0) add(t.crowds.labels, t.crowds.boxes_xyxy, t.crowds.areas, 1);
  }
  json root = {{"images", images}, {"annotations", annotations}, {"categories", categories}};
  write_file_atomic(path, root.dump());
}

}  // namespace genbox::detection
