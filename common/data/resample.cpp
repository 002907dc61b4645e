#include "common/data/resample.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace genbox {

namespace {

// Pillow's fixed point for 8-bit images: 8 bits of result, 2 bits of headroom because a filter with
// negative lobes can sum its positive weights past 1, and the sign bit. 22 fractional bits.
constexpr int kPrecisionBits = 32 - 8 - 2;
// Added before the final shift so that it rounds half up instead of truncating.
constexpr int32_t kHalf = int32_t(1) << (kPrecisionBits - 1);

struct Filter {
  double (*weight)(double x);
  double support;  // the half-width at scale 1; downscaling widens it by the factor (antialiasing)
};

// Keys' cubic convolution with a = -0.5. The expressions are Pillow's, operation for operation, so the
// double weights, and therefore their 22-bit roundings, come out identical.
double bicubic_weight(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Half-open, so that an input pixel exactly on the border between two output pixels' windows counts once.
double box_weight(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }

constexpr Filter kBicubic{bicubic_weight, 2.0};
constexpr Filter kBox{box_weight, 0.5};

// One pass's table, computed once per call: output pixel i reads inputs first[i] .. first[i] + count[i] - 1
// with the fixed-point weights weights[i * stride + j].
struct Taps {
  int stride = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;
};

// Rounds half away from zero, as Pillow's normalize_coeffs_8bpc does (not to even).
int32_t to_fixed(double weight) {
  const double scaled = weight * (1 << kPrecisionBits);
  return int32_t(weight < 0 ? scaled - 0.5 : scaled + 0.5);
}

// One pass's windows with Pillow's double weights, each window normalised to sum to 1: output pixel i
// reads inputs first[i] .. first[i] + count[i] - 1 with weights[i * stride + j].
struct Windows {
  int stride = 0;
  std::vector<int> first, count;
  std::vector<double> weights;
};

// Pillow's precompute_coeffs with the whole image as the box.
Windows precompute_windows(int in_size, int out_size, const Filter& filter) {
  // Pillow holds the box in floats; going through float keeps sizes above 2^24 identical too.
  const double scale = double(float(in_size)) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = filter.support * filter_scale;
  const double inverse_filter_scale = 1.0 / filter_scale;  // Pillow multiplies by this rather than dividing
  Windows windows;
  // Pillow's row length: a window [center - support, center + support] rounded at both ends spans at most
  // this many pixels. A window never holds more than the whole input, which bounds it for huge downscales.
  windows.stride = int(std::min(std::ceil(support) * 2 + 1, double(in_size)));
  windows.first.resize(out_size);
  windows.count.resize(out_size);
  windows.weights.assign(size_t(out_size) * windows.stride, 0.0);
  for (int i = 0; i < out_size; ++i) {
    const double center = (i + 0.5) * scale;
    // Pillow rounds both ends with int(v + 0.5) and then clamps to the image. Clamping first gives the same
    // (int() truncates toward 0 and the bounds are whole) and keeps the conversion within int's range.
    const int first = int(std::max(center - support + 0.5, 0.0));
    const int count = int(std::min(center + support + 0.5, double(in_size))) - first;
    double* weights = &windows.weights[size_t(i) * windows.stride];
    double sum = 0.0;
    for (int j = 0; j < count; ++j) {
      weights[j] = filter.weight((j + first - center + 0.5) * inverse_filter_scale);
      sum += weights[j];
    }
    // Normalising in double makes every window, clipped at the border or not, average to 1.
    if (sum != 0.0)
      for (int j = 0; j < count; ++j) weights[j] /= sum;
    windows.first[i] = first;
    windows.count[i] = count;
  }
  return windows;
}

// The same windows in 8-bit images' fixed point (Pillow's normalize_coeffs_8bpc).
Taps precompute(int in_size, int out_size, const Filter& filter) {
  const Windows windows = precompute_windows(in_size, out_size, filter);
  Taps taps{windows.stride, windows.first, windows.count, std::vector<int32_t>(windows.weights.size())};
  for (size_t k = 0; k < windows.weights.size(); ++k) taps.weights[k] = to_fixed(windows.weights[k]);
  return taps;
}

// Pillow clips through a table; a test that is nearly always true (a box filter never leaves 0 .. 255, a
// bicubic one only near edges) predicts better than two conditional moves.
uint8_t clip8(int32_t sum) {
  const int32_t value = sum >> kPrecisionBits;
  if (uint32_t(value) <= 255u) return uint8_t(value);
  return value < 0 ? 0 : 255;
}

// The horizontal pass's loops over `rows` rows, in_width pixels to out_width, with the channel count fixed at
// compile time so that one pixel's sums stay in registers while its window is read once, left to right.
template <int kChannels>
void horizontal_fixed(const uint8_t* in, int64_t in_width, uint8_t* out, int64_t out_width, int64_t rows,
                      const Taps& taps) {
  // Local copies: the byte stores below may alias anything, so fields read through `taps` would be reloaded.
  const int32_t* const weights = taps.weights.data();
  const int* const firsts = taps.first.data();
  const int* const counts = taps.count.data();
  const int64_t stride = taps.stride;
  for (int64_t y = 0; y < rows; ++y) {
    const uint8_t* in_row = in + y * in_width * kChannels;
    uint8_t* out_row = out + y * out_width * kChannels;
    for (int64_t x = 0; x < out_width; ++x) {
      const int32_t* w = weights + x * stride;
      const uint8_t* window = in_row + int64_t(firsts[x]) * kChannels;
      // -O2 keeps the channel loops as loops, and the sums then on the stack; unrolled, they stay in registers.
      int32_t sums[kChannels];
#pragma GCC unroll 4
      for (int c = 0; c < kChannels; ++c) sums[c] = kHalf;
      for (int j = 0; j < counts[x]; ++j)
#pragma GCC unroll 4
        for (int c = 0; c < kChannels; ++c) sums[c] += window[j * kChannels + c] * w[j];
#pragma GCC unroll 4
      for (int c = 0; c < kChannels; ++c) out_row[x * kChannels + c] = clip8(sums[c]);
    }
  }
}

// The same for any channel count, one channel at a time.
void horizontal_any(const uint8_t* in, int64_t in_width, uint8_t* out, int64_t out_width, int64_t rows, int channels,
                    const Taps& taps) {
  for (int64_t y = 0; y < rows; ++y) {
    const uint8_t* in_row = in + y * in_width * channels;
    uint8_t* out_row = out + y * out_width * channels;
    for (int64_t x = 0; x < out_width; ++x) {
      const int32_t* w = &taps.weights[size_t(x) * taps.stride];
      const uint8_t* window = in_row + int64_t(taps.first[x]) * channels;
      for (int c = 0; c < channels; ++c) {
        int32_t sum = kHalf;
        for (int j = 0; j < taps.count[x]; ++j) sum += window[j * channels + c] * w[j];
        out_row[x * channels + c] = clip8(sum);
      }
    }
  }
}

void horizontal(const uint8_t* in, int64_t in_width, uint8_t* out, int64_t out_width, int64_t rows, int channels,
                const Taps& taps) {
  if (channels == 1) return horizontal_fixed<1>(in, in_width, out, out_width, rows, taps);
  if (channels == 3) return horizontal_fixed<3>(in, in_width, out, out_width, rows, taps);
  horizontal_any(in, in_width, out, out_width, rows, channels, taps);
}

// sums[i] += row[i] * weight. In blocks of 16 and with the pointers declared unaliased, -O2's cautious
// vectorizer takes the loop too (it needs neither a run-time overlap test nor a scalar remainder).
void accumulate_row(const uint8_t* __restrict row, int32_t weight, int32_t* __restrict sums, int64_t size) {
  int64_t i = 0;
  for (; i + 16 <= size; i += 16)
    for (int k = 0; k < 16; ++k) sums[i + k] += row[i + k] * weight;
  for (; i < size; ++i) sums[i] += row[i] * weight;
}

// out[i] = clip8(sums[i]), written branch-free and in blocks of 16 so that it vectorizes as accumulate_row does.
void clip_row(const int32_t* __restrict sums, uint8_t* __restrict out, int64_t size) {
  int64_t i = 0;
  for (; i + 16 <= size; i += 16)
    for (int k = 0; k < 16; ++k) out[i + k] = uint8_t(std::clamp(sums[i + k] >> kPrecisionBits, 0, 255));
  for (; i < size; ++i) out[i] = clip8(sums[i]);
}

// Resamples along y; `in` starts at input row row_offset (the rows above it were never needed). Each byte of
// a row is independent here, so whole rows are accumulated at once: the sums are exact integers, so the order
// of the additions cannot change them.
void vertical(const uint8_t* in, int64_t row_offset, int64_t row_bytes, uint8_t* out, int64_t out_rows,
              const Taps& taps) {
  std::vector<int32_t> buffer(row_bytes);
  int32_t* const sums = buffer.data();
  for (int64_t y = 0; y < out_rows; ++y) {
    std::fill(sums, sums + row_bytes, kHalf);
    const int32_t* w = &taps.weights[size_t(y) * taps.stride];
    const int64_t first = taps.first[y] - row_offset;
    const int count = taps.count[y];  // read once: the int32 stores below could alias it
    for (int j = 0; j < count; ++j) accumulate_row(in + (first + j) * row_bytes, w[j], sums, row_bytes);
    clip_row(sums, out + y * row_bytes, row_bytes);
  }
}

// height * width * channels, or -1 when a side is outside 1 .. INT_MAX (Pillow's sizes are ints) or the
// product would not fit in memory's addresses.
int64_t element_count(int64_t height, int64_t width, int64_t channels) {
  if (height < 1 || width < 1 || channels < 1 || height > INT_MAX || width > INT_MAX || channels > INT_MAX) return -1;
  const int64_t pixels = height * width;  // < 2^62
  if (pixels > PTRDIFF_MAX / channels) return -1;
  return pixels * channels;
}

void check_arguments(const char* function, const ImageU8& image, int64_t height, int64_t width) {
  const int64_t elements = element_count(image.height, image.width, image.channels);
  if (elements < 0 || size_t(elements) != image.pixels.size())
    throw std::invalid_argument(std::string(function) + ": the image is " + std::to_string(image.height) + " x " +
                                std::to_string(image.width) + " x " + std::to_string(image.channels) + " with " +
                                std::to_string(image.pixels.size()) + " bytes; expected sides >= 1 and that product");
  if (element_count(height, width, image.channels) < 0)
    throw std::invalid_argument(std::string(function) + ": cannot make a " + std::to_string(height) + " x " +
                                std::to_string(width) + " image");
}

// (a + b + 1) >> 1 of neighbouring pixels along a row: `pixels` pixels of `channels` from 2 * pixels. The
// channel count is a template argument for grey and RGB, so that the compiler unrolls the channel loop.
template <int kChannels>
void halve_row_fixed(const uint8_t* __restrict in, uint8_t* __restrict out, int64_t pixels) {
  for (int64_t x = 0; x < pixels; ++x)
#pragma GCC unroll 4
    for (int c = 0; c < kChannels; ++c)
      out[x * kChannels + c] = uint8_t((in[2 * x * kChannels + c] + in[(2 * x + 1) * kChannels + c] + 1) >> 1);
}

void halve_row(const uint8_t* in, uint8_t* out, int64_t pixels, int64_t channels) {
  if (channels == 1) return halve_row_fixed<1>(in, out, pixels);
  if (channels == 3) return halve_row_fixed<3>(in, out, pixels);
  for (int64_t x = 0; x < pixels; ++x)
    for (int64_t c = 0; c < channels; ++c)
      out[x * channels + c] = uint8_t((in[2 * x * channels + c] + in[(2 * x + 1) * channels + c] + 1) >> 1);
}

// (a + b + 1) >> 1 of two rows, element by element.
void average_rows(const uint8_t* __restrict a, const uint8_t* __restrict b, uint8_t* __restrict out, int64_t size) {
  for (int64_t i = 0; i < size; ++i) out[i] = uint8_t((a[i] + b[i] + 1) >> 1);
}

// The box filter at exactly half size on both sides: every tap then weighs 2^21 of 2^22, so each pass is
// (a + b + 1) >> 1 on 8-bit values, and the general path's bytes come out of two averages, in its order.
ImageU8 halve(const ImageU8& image, bool x_first) {
  const int64_t height = image.height / 2, width = image.width / 2, channels = image.channels;
  const int64_t in_row = image.width * channels, out_row = width * channels;
  ImageU8 out{height, width, channels, std::vector<uint8_t>(size_t(height * out_row))};
  const uint8_t* in = image.pixels.data();
  std::vector<uint8_t> first(size_t(x_first ? out_row : in_row)), second(first.size());
  for (int64_t y = 0; y < height; ++y) {
    const uint8_t* upper = in + 2 * y * in_row;
    uint8_t* target = out.pixels.data() + y * out_row;
    if (x_first) {
      halve_row(upper, first.data(), width, channels);
      halve_row(upper + in_row, second.data(), width, channels);
      average_rows(first.data(), second.data(), target, out_row);
    } else {
      average_rows(upper, upper + in_row, first.data(), in_row);
      halve_row(first.data(), target, width, channels);
    }
  }
  return out;
}

// Pillow's ImagingResampleInner without a box: one pass per axis whose size changes, each rounding to 8 bits.
ImageU8 resize(const ImageU8& image, int64_t height, int64_t width, const Filter& filter) {
  const int in_height = int(image.height), in_width = int(image.width), channels = int(image.channels);
  const int out_height = int(height), out_width = int(width);
  if (in_height == out_height && in_width == out_width) return image;
  const bool need_x = in_width != out_width, need_y = in_height != out_height;
  // Pillow runs the vertical pass first when the height shrinks by more than twice as many pixels as the
  // width, since the horizontal pass then has fewer rows. The 8-bit image between the passes differs with
  // the order, so the same choice is needed for the same bytes.
  const int64_t height_loss = int64_t(in_height) - out_height, width_loss = int64_t(in_width) - out_width;
  const bool x_first = !(height_loss > 0 && height_loss > width_loss * 2);
  if (filter.weight == box_weight && int64_t(out_height) * 2 == in_height && int64_t(out_width) * 2 == in_width)
    return halve(image, x_first);
  ImageU8 out{height, width, image.channels, std::vector<uint8_t>(size_t(height) * width * channels)};
  std::vector<uint8_t> between;
  if (x_first) {
    if (!need_y) {
      horizontal(image.pixels.data(), in_width, out.pixels.data(), out_width, in_height, channels,
                 precompute(in_width, out_width, filter));
      return out;
    }
    const Taps y_taps = precompute(in_height, out_height, filter);
    // Only the rows some output row reads need the horizontal pass; the windows move down monotonically.
    const int64_t row_begin = y_taps.first.front(), row_end = y_taps.first.back() + y_taps.count.back();
    const uint8_t* rows = image.pixels.data() + row_begin * in_width * channels;
    if (need_x) {
      between.resize(size_t(row_end - row_begin) * out_width * channels);
      horizontal(rows, in_width, between.data(), out_width, row_end - row_begin, channels,
                 precompute(in_width, out_width, filter));
      rows = between.data();
    }
    vertical(rows, row_begin, int64_t(out_width) * channels, out.pixels.data(), out_height, y_taps);
    return out;
  }
  // Vertical first: need_y holds, as the height shrinks.
  const Taps y_taps = precompute(in_height, out_height, filter);
  if (!need_x) {
    vertical(image.pixels.data(), 0, int64_t(in_width) * channels, out.pixels.data(), out_height, y_taps);
    return out;
  }
  between.resize(size_t(out_height) * in_width * channels);
  vertical(image.pixels.data(), 0, int64_t(in_width) * channels, between.data(), out_height, y_taps);
  horizontal(between.data(), in_width, out.pixels.data(), out_width, out_height, channels,
             precompute(in_width, out_width, filter));
  return out;
}

// Pillow's 32-bit passes (ImagingResampleHorizontal_32bpc and ..Vertical_32bpc): each output value is
// the double sum of float inputs times double weights, stored as float.
void horizontal_float(const float* in, int64_t in_width, float* out, int64_t out_width, int64_t rows,
                      const Windows& windows) {
  for (int64_t y = 0; y < rows; ++y) {
    const float* in_row = in + y * in_width;
    for (int64_t x = 0; x < out_width; ++x) {
      const double* w = &windows.weights[size_t(x) * windows.stride];
      const float* window = in_row + windows.first[x];
      double sum = 0.0;
      for (int j = 0; j < windows.count[x]; ++j) sum += window[j] * w[j];
      out[y * out_width + x] = float(sum);
    }
  }
}

void vertical_float(const float* in, int64_t row_offset, int64_t width, float* out, int64_t out_rows,
                    const Windows& windows) {
  std::vector<double> sums(width);
  for (int64_t y = 0; y < out_rows; ++y) {
    std::fill(sums.begin(), sums.end(), 0.0);
    const double* w = &windows.weights[size_t(y) * windows.stride];
    const float* first_row = in + (windows.first[y] - row_offset) * width;
    for (int j = 0; j < windows.count[y]; ++j)
      for (int64_t x = 0; x < width; ++x) sums[x] += first_row[j * width + x] * w[j];
    for (int64_t x = 0; x < width; ++x) out[y * width + x] = float(sums[x]);
  }
}

}  // namespace

ImageU8 resize_bicubic(const ImageU8& image, int64_t height, int64_t width) {
  check_arguments("resize_bicubic", image, height, width);
  return resize(image, height, width, kBicubic);
}

ImageU8 resize_box(const ImageU8& image, int64_t height, int64_t width) {
  check_arguments("resize_box", image, height, width);
  return resize(image, height, width, kBox);
}

ImageU8 center_crop(const ImageU8& image, int64_t height, int64_t width) {
  check_arguments("center_crop", image, height, width);
  // Cheap exact halvings first, as ADM does, so that the bicubic filter's window stays small. ADM's test
  // min(w, h) >= 2 s is, for a square target, the same as both sides >= 2 s.
  const ImageU8* current = &image;
  ImageU8 halved;
  while (current->height >= 2 * height && current->width >= 2 * width) {
    halved = resize(*current, current->height / 2, current->width / 2, kBox);
    current = &halved;
  }
  // Python's height / h is the correctly rounded quotient, as is this; for a square target the max is
  // s / min(h, w), ADM's scale, bit for bit.
  const double scale = std::max(double(height) / double(current->height), double(width) / double(current->width));
  // Python's round(): to nearest, ties to even, which is nearbyint under the default rounding mode.
  const int64_t scaled_height = int64_t(std::nearbyint(double(current->height) * scale));
  const int64_t scaled_width = int64_t(std::nearbyint(double(current->width) * scale));
  // The scale covers the target on both sides: h * (height / h) rounds to height, never below.
  if (scaled_height < height || scaled_width < width)
    throw std::logic_error("center_crop: the scaled image is smaller than the target");
  if (element_count(scaled_height, scaled_width, image.channels) < 0)
    throw std::invalid_argument("center_crop: a " + std::to_string(current->height) + " x " +
                                std::to_string(current->width) + " image would be scaled to " +
                                std::to_string(scaled_height) + " x " + std::to_string(scaled_width));
  const ImageU8 scaled = resize(*current, scaled_height, scaled_width, kBicubic);
  const int64_t top = (scaled_height - height) / 2, left = (scaled_width - width) / 2;
  const int64_t channels = image.channels, row_bytes = width * channels;
  ImageU8 out{height, width, channels, std::vector<uint8_t>(size_t(height * row_bytes))};
  for (int64_t y = 0; y < height; ++y) {
    const uint8_t* from = scaled.pixels.data() + ((top + y) * scaled_width + left) * channels;
    std::copy(from, from + row_bytes, out.pixels.data() + y * row_bytes);
  }
  return out;
}

std::vector<float> resize_bicubic_float(const float* plane, int64_t height, int64_t width, int64_t out_height,
                                        int64_t out_width) {
  if (element_count(height, width, 1) < 0 || element_count(out_height, out_width, 1) < 0)
    throw std::invalid_argument("resize_bicubic_float: a side is outside 1 .. INT_MAX");
  const int in_h = int(height), in_w = int(width), out_h = int(out_height), out_w = int(out_width);
  if (in_h == out_h && in_w == out_w) return std::vector<float>(plane, plane + height * width);
  // The pass order of the 8-bit resize (Pillow's ImagingResampleInner serves both).
  const int64_t height_loss = int64_t(in_h) - out_h, width_loss = int64_t(in_w) - out_w;
  const bool x_first = !(height_loss > 0 && height_loss > width_loss * 2);
  const bool need_x = in_w != out_w, need_y = in_h != out_h;
  std::vector<float> out(size_t(out_h) * out_w), between;
  if (x_first) {
    if (!need_y) {
      horizontal_float(plane, in_w, out.data(), out_w, in_h, precompute_windows(in_w, out_w, kBicubic));
      return out;
    }
    const Windows y_windows = precompute_windows(in_h, out_h, kBicubic);
    const int64_t row_begin = y_windows.first.front(), row_end = y_windows.first.back() + y_windows.count.back();
    const float* rows = plane + row_begin * in_w;
    int64_t row_width = in_w;
    if (need_x) {
      between.resize(size_t(row_end - row_begin) * out_w);
      horizontal_float(rows, in_w, between.data(), out_w, row_end - row_begin,
                       precompute_windows(in_w, out_w, kBicubic));
      rows = between.data();
      row_width = out_w;
    }
    vertical_float(rows, row_begin, row_width, out.data(), out_h, y_windows);
    return out;
  }
  const Windows y_windows = precompute_windows(in_h, out_h, kBicubic);
  if (!need_x) {
    vertical_float(plane, 0, in_w, out.data(), out_h, y_windows);
    return out;
  }
  between.resize(size_t(out_h) * in_w);
  vertical_float(plane, 0, in_w, between.data(), out_h, y_windows);
  horizontal_float(between.data(), in_w, out.data(), out_w, out_h, precompute_windows(in_w, out_w, kBicubic));
  return out;
}

}  // namespace genbox
