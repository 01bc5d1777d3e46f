// Patch geometry, foreground locations and the one function that makes a training patch.
#include "skipzoo/data/patch.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "skipzoo/data/image.h"
#include "skipzoo/data/mask.h"

namespace skipzoo::data {

ClassLocations find_class_locations(const cv::Mat& labels, int64_t background_class, int64_t max_per_class) {
  if (labels.type() != CV_8U) throw std::invalid_argument("find_class_locations: labels must be CV_8U");
  int64_t counts[256] = {0};
  for (int y = 0; y < labels.rows; ++y) {
    const uint8_t* row = labels.ptr<uint8_t>(y);
    for (int x = 0; x < labels.cols; ++x) ++counts[row[x]];
  }
  // Keep every stride-th pixel of a class: an even spread without storing them all first.
  int64_t stride[256], seen[256] = {0};
  int slot[256];
  ClassLocations out;
  for (int c = 0; c < 256; ++c) {
    slot[c] = -1;
    if (counts[c] == 0 || c == background_class || c == kIgnoreIndex) continue;
    stride[c] = std::max<int64_t>(1, (counts[c] + max_per_class - 1) / std::max<int64_t>(1, max_per_class));
    slot[c] = static_cast<int>(out.classes.size());
    out.classes.push_back(c);
    out.points.emplace_back();
    out.points.back().reserve(static_cast<size_t>(counts[c] / stride[c] + 1));
  }
  for (int y = 0; y < labels.rows; ++y) {
    const uint8_t* row = labels.ptr<uint8_t>(y);
    for (int x = 0; x < labels.cols; ++x) {
      const int c = row[x];
      if (slot[c] >= 0 && seen[c]++ % stride[c] == 0) out.points[static_cast<size_t>(slot[c])].emplace_back(x, y);
    }
  }
  return out;
}

bool is_forced_foreground(int64_t slot, int64_t batch_size, double fraction, Rng& rng) {
  const double forced = std::clamp(fraction, 0.0, 1.0) * static_cast<double>(batch_size);
  const auto whole = static_cast<int64_t>(std::floor(forced));
  const double u = rng.uniform();  // always drawn: the sample's stream does not depend on its slot
  if (slot >= batch_size - whole) return true;
  return slot == batch_size - whole - 1 && u < forced - static_cast<double>(whole);
}

namespace {
// Origin range along one axis: the image (n) is centred in max(n, extent) pixels.
void origin_range(int n, int extent, int& lo, int& hi) {
  const int padded = std::max(n, extent);
  lo = -(padded - n) / 2;
  hi = lo + padded - extent;
}
}  // namespace

cv::Rect padded_bounds(cv::Size image, int extent) {
  int lx, hx, ly, hy;
  origin_range(image.width, extent, lx, hx);
  origin_range(image.height, extent, ly, hy);
  return {lx, ly, std::max(image.width, extent), std::max(image.height, extent)};
}

cv::Rect patch_window(cv::Size image, int extent, const cv::Point* centre, Rng& rng) {
  int lx, hx, ly, hy;
  origin_range(image.width, extent, lx, hx);
  origin_range(image.height, extent, ly, hy);
  int x, y;
  if (centre) {
    x = std::clamp(centre->x - extent / 2, lx, hx);
    y = std::clamp(centre->y - extent / 2, ly, hy);
  } else {
    x = lx + static_cast<int>(rng.below(hx - lx + 1));
    y = ly + static_cast<int>(rng.below(hy - ly + 1));
  }
  return {x, y, extent, extent};
}

cv::Mat extract_window(const cv::Mat& src, cv::Rect window, int border, const cv::Scalar& value) {
  const cv::Rect inside = window & cv::Rect(0, 0, src.cols, src.rows);
  if (inside == window) return src(window).clone();
  cv::Mat out;
  if (inside.empty()) {  // a window entirely outside the image
    out = cv::Mat(window.size(), src.type(), value);
    return out;
  }
  cv::copyMakeBorder(src(inside), out, inside.y - window.y, window.br().y - inside.br().y, inside.x - window.x,
                     window.br().x - inside.br().x, border, value);
  return out;
}

PatchSample sample_patch(const cv::Mat& image, const cv::Mat& labels, const ClassLocations& locations,
                         bool force_foreground, const PatchOptions& patch, const AugmentOptions& augment, Rng& rng) {
  if (image.empty()) throw std::invalid_argument("sample_patch: empty image");
  if (!labels.empty() && (labels.size() != image.size() || labels.type() != CV_8U))
    throw std::invalid_argument("sample_patch: labels must be CV_8U of the image's size");
  const int size = static_cast<int>(patch.size);
  const SpatialDraw draw = draw_spatial(augment, rng);
  const int extent = std::max(1, static_cast<int>(std::lround(size / draw.scale)));

  PatchSample out;
  if (force_foreground && !locations.empty()) {
    const auto k = static_cast<size_t>(rng.below(static_cast<int64_t>(locations.classes.size())));
    const auto& points = locations.points[k];
    out.forced = true;
    out.forced_class = locations.classes[k];
    out.centre = points[static_cast<size_t>(rng.below(static_cast<int64_t>(points.size())))];
  }
  out.window = patch_window(image.size(), extent, out.forced ? &out.centre : nullptr, rng);

  const int image_border = patch.pad == PadMode::Reflect ? cv::BORDER_REFLECT_101 : cv::BORDER_CONSTANT;
  const cv::Scalar pad_value = cv::Scalar::all(patch.pad_value), ignore = cv::Scalar::all(double(kIgnoreIndex));
  cv::Mat raw;
  if (!draw.warps()) {
    raw = extract_window(image, out.window, image_border, pad_value);
    if (!labels.empty()) out.labels = extract_window(labels, out.window, cv::BORDER_CONSTANT, ignore);
  } else {
    // Maps output pixel d to source c + R(angle) (d - dc) / scale: one resampling does crop,
    // zoom, rotation and padding, reading only the pixels it needs from a large image.
    const double a = draw.angle * CV_PI / 180.0, f = 1.0 / draw.scale;
    const double cx = out.window.x + (extent - 1) / 2.0, cy = out.window.y + (extent - 1) / 2.0, dc = (size - 1) / 2.0;
    const double m00 = f * std::cos(a), m01 = -f * std::sin(a), m10 = f * std::sin(a), m11 = f * std::cos(a);
    const cv::Matx23d m(m00, m01, cx - m00 * dc - m01 * dc, m10, m11, cy - m10 * dc - m11 * dc);
    cv::warpAffine(image, raw, m, cv::Size(size, size), cv::INTER_LINEAR | cv::WARP_INVERSE_MAP, image_border, pad_value);
    if (!labels.empty())
      cv::warpAffine(labels, out.labels, m, cv::Size(size, size), cv::INTER_NEAREST | cv::WARP_INVERSE_MAP,
                     cv::BORDER_CONSTANT, ignore);
  }
  apply_orientation(raw, draw);
  apply_orientation(out.labels, draw);
  raw.convertTo(out.image, CV_32F, unit_scale(raw.depth()));
  apply_intensity(out.image, augment, rng);
  return out;
}

}  // namespace skipzoo::data
