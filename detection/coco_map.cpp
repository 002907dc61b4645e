#include "detection/coco_map.hpp"

#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "base/fsutil.hpp"
#include "detection/box_ops.hpp"

namespace genbox::detection {

namespace {
constexpr int kThresholds = 10, kRecallPoints = 101, kAreas = 4, kMaxDets = 3;
constexpr std::array<int64_t, kMaxDets> kMaxDetections = {1, 10, 100};
// all, small, medium, large; bounds inclusive on both sides as in COCOeval.
constexpr std::array<std::array<double, 2>, kAreas> kAreaRanges = {
    {{0, 1e10}, {0, 32.0 * 32}, {32.0 * 32, 96.0 * 96}, {96.0 * 96, 1e10}}};

// numpy.linspace(start, stop, n): start + i * step, with the last point exactly stop.
std::vector<double> linspace(double start, double stop, int n) {
  std::vector<double> points(n);
  double step = (stop - start) / (n - 1);
  for (int i = 0; i < n; ++i) points[i] = start + i * step;
  points[n - 1] = stop;
  return points;
}

// One image's boxes of one category, as plain arrays.
struct Boxes {
  std::vector<std::array<double, 4>> xyxy;
  std::vector<double> areas, scores;
  std::vector<char> crowd;  // ground truth only: a crowd region rather than an object

  bool empty() const { return xyxy.empty(); }
};

// Matching results of one (image, category, area range), COCOeval.evaluateImg's output.
struct ImageEvaluation {
  std::vector<double> scores;                       // detections by descending score, at most 100
  std::vector<std::vector<char>> matched, ignored;  // [threshold][detection]
  int64_t counted_truths = 0;                       // ground truth not ignored
};

// IoU of detection d and ground truth g; against a crowd region the intersection is divided by
// the detection's area alone (pycocotools' bbIou with iscrowd), so a detection of one object
// inside a crowd overlaps it fully.
double iou(const std::array<double, 4>& d, const std::array<double, 4>& g, bool crowd) {
  double w = std::min(d[2], g[2]) - std::max(d[0], g[0]);
  double h = std::min(d[3], g[3]) - std::max(d[1], g[1]);
  if (w <= 0 || h <= 0) return 0;
  double inter = w * h;
  double detection_area = (d[2] - d[0]) * (d[3] - d[1]);
  double uni = crowd ? detection_area : detection_area + (g[2] - g[0]) * (g[3] - g[1]) - inter;
  return inter / uni;
}

ImageEvaluation evaluate_image(const Boxes& truth, const Boxes& found, const std::array<double, 2>& area_range,
                               const std::vector<double>& thresholds) {
  auto outside = [&](double area) { return area < area_range[0] || area > area_range[1]; };
  // Crowd regions and ground truth outside the range are ignored and go last, keeping order otherwise.
  auto ignored = [&](int64_t g) { return truth.crowd[g] || outside(truth.areas[g]); };
  std::vector<int64_t> truth_order(truth.areas.size());
  std::iota(truth_order.begin(), truth_order.end(), 0);
  std::stable_sort(truth_order.begin(), truth_order.end(),
                   [&](int64_t a, int64_t b) { return !ignored(a) && ignored(b); });
  std::vector<char> truth_ignored, truth_crowd;
  for (int64_t g : truth_order) {
    truth_ignored.push_back(ignored(g));
    truth_crowd.push_back(truth.crowd[g]);
  }

  std::vector<int64_t> found_order(found.scores.size());
  std::iota(found_order.begin(), found_order.end(), 0);
  std::stable_sort(found_order.begin(), found_order.end(),
                   [&](int64_t a, int64_t b) { return found.scores[a] > found.scores[b]; });
  if (found_order.size() > static_cast<size_t>(kMaxDetections.back())) found_order.resize(kMaxDetections.back());

  ImageEvaluation e;
  for (int64_t d : found_order) e.scores.push_back(found.scores[d]);
  for (char ignored : truth_ignored) e.counted_truths += !ignored;
  const size_t nd = found_order.size(), ng = truth_order.size();
  e.matched.assign(thresholds.size(), std::vector<char>(nd, 0));
  e.ignored.assign(thresholds.size(), std::vector<char>(nd, 0));
  std::vector<double> ious(nd * ng);
  for (size_t d = 0; d < nd; ++d)
    for (size_t g = 0; g < ng; ++g)
      ious[d * ng + g] = iou(found.xyxy[found_order[d]], truth.xyxy[truth_order[g]], truth_crowd[g]);

  for (size_t t = 0; t < thresholds.size(); ++t) {
    std::vector<char> truth_taken(ng, 0);
    for (size_t d = 0; d < nd; ++d) {
      double best = std::min(thresholds[t], 1 - 1e-10);
      int64_t match = -1;
      for (size_t g = 0; g < ng; ++g) {
        // A crowd region takes any number of detections; anything else one.
        if (truth_taken[g] && !truth_crowd[g]) continue;
        // Once matched to counted ground truth, ignored ground truth (sorted last) cannot win.
        if (match >= 0 && !truth_ignored[match] && truth_ignored[g]) break;
        if (ious[d * ng + g] < best) continue;
        best = ious[d * ng + g];
        match = static_cast<int64_t>(g);
      }
      if (match < 0) continue;
      e.ignored[t][d] = truth_ignored[match];
      e.matched[t][d] = 1;
      truth_taken[match] = 1;
    }
    for (size_t d = 0; d < nd; ++d)
      if (!e.matched[t][d] && outside(found.areas[found_order[d]])) e.ignored[t][d] = 1;
  }
  return e;
}

// Appends boxes [n, 4] with labels [n], areas [n] and scores [n] (or undefined) to their classes.
void split_by_category(std::vector<Boxes>& per_class, const torch::Tensor& boxes, const torch::Tensor& labels,
                       const torch::Tensor& areas, const torch::Tensor& scores, bool crowd, const char* what,
                       size_t image) {
  const int64_t num_classes = static_cast<int64_t>(per_class.size());
  torch::Tensor b = boxes.detach().to(torch::kCPU, torch::kDouble).reshape({-1, 4}).contiguous();
  torch::Tensor l = labels.detach().to(torch::kCPU, torch::kLong).contiguous();
  torch::Tensor a = areas.detach().to(torch::kCPU, torch::kDouble).contiguous();
  torch::Tensor s = scores.defined() ? scores.detach().to(torch::kCPU, torch::kDouble).contiguous() : torch::Tensor();
  const double* box = b.data_ptr<double>();
  for (int64_t i = 0; i < l.size(0); ++i) {
    int64_t k = l.data_ptr<int64_t>()[i];
    if (k < 0 || k >= num_classes)
      throw std::invalid_argument(fmt::format("COCO evaluation: {} {} of image {} has class {}, outside [0, {})", what,
                                              i, image, k, num_classes));
    per_class[k].xyxy.push_back({box[4 * i], box[4 * i + 1], box[4 * i + 2], box[4 * i + 3]});
    per_class[k].areas.push_back(a.data_ptr<double>()[i]);
    per_class[k].crowd.push_back(crowd);
    if (s.defined()) per_class[k].scores.push_back(s.data_ptr<double>()[i]);
  }
}

double mean_of_defined(const std::vector<double>& values) {
  double sum = 0;
  int64_t count = 0;
  for (double v : values)
    if (v > -1) {
      sum += v;
      ++count;
    }
  return count ? sum / count : -1;
}
}  // namespace

std::vector<std::pair<std::string, double>> CocoMetrics::named() const {
  return {{"ap", ap},
          {"ap50", ap50},
          {"ap75", ap75},
          {"ap_small", ap_small},
          {"ap_medium", ap_medium},
          {"ap_large", ap_large},
          {"ar1", ar1},
          {"ar10", ar10},
          {"ar100", ar100},
          {"ar_small", ar_small},
          {"ar_medium", ar_medium},
          {"ar_large", ar_large}};
}

CocoMetrics evaluate_coco(const std::vector<Detections>& detections, const std::vector<Targets>& ground_truth,
                          int64_t num_classes) {
  if (detections.size() != ground_truth.size())
    throw std::invalid_argument(fmt::format("COCO evaluation got detections for {} images and ground truth for {}",
                                            detections.size(), ground_truth.size()));
  const std::vector<double> thresholds = linspace(0.5, 0.95, kThresholds);
  const std::vector<double> recall_points = linspace(0.0, 1.0, kRecallPoints);
  const size_t images = detections.size();

  std::vector<std::vector<Boxes>> truth(images), found(images);  // [image][class]
  for (size_t i = 0; i < images; ++i) {
    const Targets& t = ground_truth[i];
    truth[i].resize(num_classes);
    torch::Tensor truth_areas = t.areas.defined() ? t.areas : box_area(t.boxes_xyxy);
    split_by_category(truth[i], t.boxes_xyxy, t.labels, truth_areas, {}, false, "ground-truth object", i);
    if (t.crowds.size() > 0)
      split_by_category(truth[i], t.crowds.boxes_xyxy, t.crowds.labels, t.crowds.areas, {}, true, "crowd region", i);
    const Detections& d = detections[i];
    found[i].resize(num_classes);
    split_by_category(found[i], d.boxes, d.labels, box_area(d.boxes.reshape({-1, 4})), d.scores, false, "detection", i);
  }

  // precision[t][k][a][m][r] and recall[t][k][a][m], -1 where a category has no counted truth.
  auto index = [&](int t, int64_t k, int a, int m) { return ((t * num_classes + k) * kAreas + a) * kMaxDets + m; };
  std::vector<double> precision(kThresholds * num_classes * kAreas * kMaxDets * kRecallPoints, -1);
  std::vector<double> recall(kThresholds * num_classes * kAreas * kMaxDets, -1);

  for (int64_t k = 0; k < num_classes; ++k) {
    for (int a = 0; a < kAreas; ++a) {
      std::vector<ImageEvaluation> evaluations;
      for (size_t i = 0; i < images; ++i) {
        if (truth[i][k].empty() && found[i][k].empty()) continue;
        evaluations.push_back(evaluate_image(truth[i][k], found[i][k], kAreaRanges[a], thresholds));
      }
      int64_t counted = 0;
      for (const ImageEvaluation& e : evaluations) counted += e.counted_truths;
      if (counted == 0) continue;

      for (int m = 0; m < kMaxDets; ++m) {
        // The first max-detections of every image, merged by score (stable: image order on ties).
        struct Entry {
          double score;
          const ImageEvaluation* image;
          size_t detection;
        };
        std::vector<Entry> entries;
        for (const ImageEvaluation& e : evaluations)
          for (size_t d = 0; d < std::min<size_t>(e.scores.size(), kMaxDetections[m]); ++d)
            entries.push_back({e.scores[d], &e, d});
        std::stable_sort(entries.begin(), entries.end(),
                         [](const Entry& x, const Entry& y) { return x.score > y.score; });

        for (int t = 0; t < kThresholds; ++t) {
          std::vector<double> rc, pr;
          double tp = 0, fp = 0;
          for (const Entry& entry : entries) {
            if (entry.image->ignored[t][entry.detection]) continue;
            (entry.image->matched[t][entry.detection] ? tp : fp) += 1;
            rc.push_back(tp / counted);
            pr.push_back(tp / (tp + fp + std::numeric_limits<double>::epsilon()));
          }
          recall[index(t, k, a, m)] = rc.empty() ? 0 : rc.back();
          for (size_t i = pr.size(); i-- > 1;) pr[i - 1] = std::max(pr[i - 1], pr[i]);
          for (int r = 0; r < kRecallPoints; ++r) {
            size_t at = std::lower_bound(rc.begin(), rc.end(), recall_points[r]) - rc.begin();
            precision[index(t, k, a, m) * kRecallPoints + r] = at < rc.size() ? pr[at] : 0;
          }
        }
      }
    }
  }

  auto average_precision = [&](int a, int threshold /* -1: all */, int64_t category = -1 /* -1: all */) {
    std::vector<double> values;
    for (int t = 0; t < kThresholds; ++t) {
      if (threshold >= 0 && t != threshold) continue;
      for (int64_t k = 0; k < num_classes; ++k) {
        if (category >= 0 && k != category) continue;
        for (int r = 0; r < kRecallPoints; ++r)
          values.push_back(precision[index(t, k, a, kMaxDets - 1) * kRecallPoints + r]);
      }
    }
    return mean_of_defined(values);
  };
  auto average_recall = [&](int a, int m) {
    std::vector<double> values;
    for (int t = 0; t < kThresholds; ++t)
      for (int64_t k = 0; k < num_classes; ++k) values.push_back(recall[index(t, k, a, m)]);
    return mean_of_defined(values);
  };
  CocoMetrics metrics;
  metrics.ap = average_precision(0, -1);
  metrics.ap50 = average_precision(0, 0);
  metrics.ap75 = average_precision(0, 5);
  metrics.ap_small = average_precision(1, -1);
  metrics.ap_medium = average_precision(2, -1);
  metrics.ap_large = average_precision(3, -1);
  metrics.ar1 = average_recall(0, 0);
  metrics.ar10 = average_recall(0, 1);
  metrics.ar100 = average_recall(0, 2);
  metrics.ar_small = average_recall(1, 2);
  metrics.ar_medium = average_recall(2, 2);
  metrics.ar_large = average_recall(3, 2);
  for (int64_t k = 0; k < num_classes; ++k) metrics.ap_per_class.push_back(average_precision(0, -1, k));
  return metrics;
}

void write_coco_results(const std::filesystem::path& path, const std::vector<Detections>& detections,
                        const std::vector<int64_t>& image_ids, const std::vector<int64_t>& category_ids) {
  if (!image_ids.empty() && image_ids.size() != detections.size())
    throw std::invalid_argument(
        fmt::format("COCO results: {} image ids for {} images", image_ids.size(), detections.size()));
  nlohmann::json results = nlohmann::json::array();
  for (size_t i = 0; i < detections.size(); ++i) {
    const Detections& d = detections[i];
    torch::Tensor boxes = d.boxes.detach().to(torch::kCPU, torch::kDouble).reshape({-1, 4});
    torch::Tensor scores = d.scores.detach().to(torch::kCPU, torch::kDouble);
    torch::Tensor labels = d.labels.detach().to(torch::kCPU, torch::kLong);
    for (int64_t j = 0; j < labels.size(0); ++j) {
      int64_t k = labels[j].item<int64_t>();
      if (!category_ids.empty() && (k < 0 || k >= static_cast<int64_t>(category_ids.size())))
        throw std::invalid_argument(fmt::format("COCO results: class {} has no category id", k));
      double x1 = boxes[j][0].item<double>(), y1 = boxes[j][1].item<double>();
      double x2 = boxes[j][2].item<double>(), y2 = boxes[j][3].item<double>();
      results.push_back({{"image_id", image_ids.empty() ? static_cast<int64_t>(i) : image_ids[i]},
                         {"category_id", category_ids.empty() ? k : category_ids[k]},
                         {"bbox", {x1, y1, x2 - x1, y2 - y1}},
                         {"score", scores[j].item<double>()}});
    }
  }
  write_file_atomic(path, results.dump());
}

}  // namespace genbox::detection
