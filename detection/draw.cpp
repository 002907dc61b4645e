#include "detection/draw.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "common/images.hpp"

namespace genbox::detection {

namespace {
constexpr int kGlyphWidth = 3, kGlyphHeight = 5;

// Rows of a 3 x 5 glyph, most significant of the three bits leftmost; null for unknown characters.
// Letters have capitals only (3 x 5 leaves no room for descenders): lower case is drawn as upper.
// O is rounded and N shaped like a small n, so that they differ from 0 and M.
const uint8_t* glyph(char c) {
  static const uint8_t digits[10][kGlyphHeight] = {{7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7},
                                                   {5, 5, 7, 1, 1}, {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1},
                                                   {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7}};
  static const uint8_t letters[26][kGlyphHeight] = {
      {2, 5, 7, 5, 5}, {6, 5, 6, 5, 6}, {3, 4, 4, 4, 3}, {6, 5, 5, 5, 6}, {7, 4, 6, 4, 7}, {7, 4, 6, 4, 4},
      {3, 4, 5, 5, 3}, {5, 5, 7, 5, 5}, {7, 2, 2, 2, 7}, {1, 1, 1, 5, 2}, {5, 5, 6, 5, 5}, {4, 4, 4, 4, 7},
      {5, 7, 7, 5, 5}, {6, 5, 5, 5, 5}, {2, 5, 5, 5, 2}, {6, 5, 6, 4, 4}, {2, 5, 5, 6, 3}, {6, 5, 6, 5, 5},
      {3, 4, 2, 1, 6}, {7, 2, 2, 2, 2}, {5, 5, 5, 5, 7}, {5, 5, 5, 5, 2}, {5, 5, 7, 7, 5}, {5, 5, 2, 5, 5},
      {5, 5, 2, 2, 2}, {7, 1, 2, 4, 7}};
  static const uint8_t point[kGlyphHeight] = {0, 0, 0, 0, 2};
  static const uint8_t space[kGlyphHeight] = {0, 0, 0, 0, 0};
  static const uint8_t dash[kGlyphHeight] = {0, 0, 7, 0, 0};
  static const uint8_t slash[kGlyphHeight] = {1, 1, 2, 4, 4};
  if (c >= '0' && c <= '9') return digits[c - '0'];
  if (c >= 'A' && c <= 'Z') return letters[c - 'A'];
  if (c >= 'a' && c <= 'z') return letters[c - 'a'];
  if (c == '.') return point;
  if (c == ' ') return space;
  if (c == '-') return dash;
  if (c == '/') return slash;
  return nullptr;
}

class Canvas {
 public:
  explicit Canvas(torch::Tensor& rgb) : pixels_(rgb.accessor<float, 3>()), height_(rgb.size(1)), width_(rgb.size(2)) {}

  void set(int64_t x, int64_t y, const std::array<float, 3>& color) {
    if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
    for (int c = 0; c < 3; ++c) pixels_[c][y][x] = color[c];
  }

  void fill(int64_t x1, int64_t y1, int64_t x2, int64_t y2, const std::array<float, 3>& color) {
    for (int64_t y = y1; y < y2; ++y)
      for (int64_t x = x1; x < x2; ++x) set(x, y, color);
  }

  // The outline of the pixels [x1, x2) x [y1, y2); a dashed one leaves every other pair out.
  void rectangle(int64_t x1, int64_t y1, int64_t x2, int64_t y2, const std::array<float, 3>& color, bool dashed) {
    auto on = [&](int64_t step) { return !dashed || (step / 2) % 2 == 0; };
    for (int64_t x = x1; x < x2; ++x)
      if (on(x - x1)) {
        set(x, y1, color);
        set(x, y2 - 1, color);
      }
    for (int64_t y = y1; y < y2; ++y)
      if (on(y - y1)) {
        set(x1, y, color);
        set(x2 - 1, y, color);
      }
  }

  void text(int64_t x, int64_t y, const std::string& s, int64_t scale, const std::array<float, 3>& color) {
    for (size_t i = 0; i < s.size(); ++i) {
      const uint8_t* rows = glyph(s[i]);
      if (!rows) continue;
      int64_t left = x + static_cast<int64_t>(i) * (kGlyphWidth + 1) * scale;
      for (int r = 0; r < kGlyphHeight; ++r)
        for (int c = 0; c < kGlyphWidth; ++c)
          if (rows[r] & (4 >> c))
            fill(left + c * scale, y + r * scale, left + (c + 1) * scale, y + (r + 1) * scale, color);
    }
  }

  int64_t height() const { return height_; }

 private:
  torch::TensorAccessor<float, 3> pixels_;
  int64_t height_, width_;
};

std::string label_text(int64_t label, const std::vector<std::string>& class_names, const torch::Tensor& scores,
                       int64_t i) {
  std::string name =
      label >= 0 && label < static_cast<int64_t>(class_names.size()) ? class_names[label] : std::to_string(label);
  if (!scores.defined()) return name;
  std::string score = fmt::format("{:.2f}", std::clamp(scores[i].item<double>(), 0.0, 1.0));
  if (score[0] == '0') score.erase(0, 1);  // ".87": the leading zero says nothing
  return name + " " + score;
}
}  // namespace

std::array<float, 3> class_color(int64_t label) {
  static const float palette[10][3] = {{0.12f, 0.47f, 0.71f}, {1.00f, 0.50f, 0.05f}, {0.17f, 0.63f, 0.17f},
                                       {0.84f, 0.15f, 0.16f}, {0.58f, 0.40f, 0.74f}, {0.55f, 0.34f, 0.29f},
                                       {0.89f, 0.47f, 0.76f}, {0.50f, 0.50f, 0.50f}, {0.74f, 0.74f, 0.13f},
                                       {0.09f, 0.75f, 0.81f}};
  if (label >= 0 && label < 10) return {palette[label][0], palette[label][1], palette[label][2]};
  // Hue by the golden ratio, full saturation and value, converted from HSV.
  double hue = std::fmod(std::abs(static_cast<double>(label)) * 0.6180339887, 1.0) * 6;
  double f = hue - std::floor(hue);
  float q = static_cast<float>(1 - f), t = static_cast<float>(f);
  switch (static_cast<int>(hue)) {
    case 0:
      return {1, t, 0};
    case 1:
      return {q, 1, 0};
    case 2:
      return {0, 1, t};
    case 3:
      return {0, q, 1};
    case 4:
      return {t, 0, 1};
    default:
      return {1, 0, q};
  }
}

torch::Tensor to_rgb(const torch::Tensor& image, int64_t factor) {
  if (image.dim() != 3 || (image.size(0) != 1 && image.size(0) != 3) || factor < 1)
    throw std::invalid_argument(fmt::format("to_rgb needs a [1 or 3, H, W] image and a positive factor, got {} and {}",
                                            fmt::join(image.sizes(), "x"), factor));
  torch::Tensor rgb = image.detach().to(torch::kCPU);
  rgb = rgb.scalar_type() == torch::kUInt8 ? rgb.to(torch::kFloat) / 255 : rgb.to(torch::kFloat);
  rgb = rgb.expand({3, -1, -1});
  return rgb.repeat_interleave(factor, 1).repeat_interleave(factor, 2).contiguous();
}

torch::Tensor draw_boxes(const torch::Tensor& rgb, const torch::Tensor& boxes, const torch::Tensor& labels,
                         const torch::Tensor& scores, const BoxStyle& style) {
  if (rgb.dim() != 3 || rgb.size(0) != 3)
    throw std::invalid_argument(fmt::format("draw_boxes needs a [3, H, W] image, got {}", fmt::join(rgb.sizes(), "x")));
  torch::Tensor out = rgb.detach().to(torch::kCPU, torch::kFloat).clone();
  torch::Tensor corners =
      (boxes.detach().to(torch::kCPU, torch::kDouble).reshape({-1, 4}) * style.coordinate_scale).round();
  torch::Tensor classes = labels.detach().to(torch::kCPU, torch::kLong);
  torch::Tensor score_values = scores.defined() ? scores.detach().to(torch::kCPU, torch::kDouble) : torch::Tensor();
  Canvas canvas(out);
  const int64_t scale = std::max<int64_t>(1, style.font_scale);
  const int64_t text_height = kGlyphHeight * scale + 2;
  for (int64_t i = 0; i < corners.size(0); ++i) {
    int64_t x1 = corners[i][0].item<int64_t>(), y1 = corners[i][1].item<int64_t>();
    int64_t x2 = std::max(x1 + 1, corners[i][2].item<int64_t>()), y2 = std::max(y1 + 1, corners[i][3].item<int64_t>());
    int64_t label = classes[i].item<int64_t>();
    std::array<float, 3> color = class_color(label);
    canvas.rectangle(x1, y1, x2, y2, color, style.dashed);

    std::string text = label_text(label, style.class_names, score_values, i);
    int64_t text_width = static_cast<int64_t>(text.size()) * (kGlyphWidth + 1) * scale + 1;
    int64_t top = y1 - text_height >= 0 ? y1 - text_height : y1;
    canvas.fill(x1, top, x1 + text_width, top + text_height, color);
    canvas.text(x1 + 1, top + 1, text, scale, {0, 0, 0});
  }
  return out;
}

void write_detection_sheet(const DetectionDataset& data, const std::vector<Detections>& detections,
                           const std::vector<std::string>& class_names, int64_t count, double threshold, int64_t scale,
                           const std::filesystem::path& path) {
  count = std::min<int64_t>({count, data.size(), static_cast<int64_t>(detections.size())});
  std::vector<torch::Tensor> pictures;
  int64_t height = 0, width = 0;
  // Labels at twice the font size stay readable on images enlarged 4 times or more.
  const int64_t font_scale = std::max<int64_t>(1, scale / 2);
  for (int64_t i = 0; i < count; ++i) {
    const Targets& truth = data.targets[i];
    torch::Tensor picture = to_rgb(data.images[i], scale);
    picture =
        draw_boxes(picture, truth.boxes_xyxy, truth.labels, {}, BoxStyle{double(scale), true, font_scale, class_names});
    torch::Tensor keep = detections[i].scores.ge(threshold);
    picture = draw_boxes(picture, detections[i].boxes.index({keep}), detections[i].labels.index({keep}),
                         detections[i].scores.index({keep}), BoxStyle{double(scale), false, font_scale, class_names});
    height = std::max(height, picture.size(1));
    width = std::max(width, picture.size(2));
    pictures.push_back(picture);
  }
  // Scenes of varying size are placed top-left on a black tile of the largest size.
  for (auto& p : pictures) p = torch::constant_pad_nd(p, {0, width - p.size(2), 0, height - p.size(1)}, 0.0);
  int64_t per_row = static_cast<int64_t>(std::ceil(std::sqrt(double(count))));
  write_png(path, make_grid(torch::stack(pictures), per_row));
}

}  // namespace genbox::detection
