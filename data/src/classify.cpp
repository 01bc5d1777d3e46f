// Classification crops for training and the evaluation views.
#include "skipzoo/data/classify.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

namespace skipzoo::data {

EvalView parse_eval_view(const std::string& name) {
  if (name == "center") return EvalView::CenterCrop;
  if (name == "resize") return EvalView::ResizeShortSide;
  if (name == "whole") return EvalView::Whole;
  throw std::invalid_argument("unknown evaluation view '" + name + "' (expected center, resize or whole)");
}

std::string eval_view_name(EvalView view) {
  switch (view) {
    case EvalView::CenterCrop: return "center";
    case EvalView::ResizeShortSide: return "resize";
    case EvalView::Whole: return "whole";
  }
  return "?";
}

namespace {
// Area averaging when shrinking (no aliasing), bilinear when enlarging.
cv::Mat resize_to(const cv::Mat& src, cv::Size size) {
  if (src.size() == size) return src.clone();
  cv::Mat out;
  const bool shrink = size.width < src.cols && size.height < src.rows;
  cv::resize(src, out, size, 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

// torchvision's RandomResizedCrop choice: ten tries at a random area share and log-uniform
// aspect ratio, then the whole image with its ratio clamped into range.
cv::Rect random_resized_window(cv::Size image, const ClassificationCrop& c, Rng& rng) {
  const double area = static_cast<double>(image.area());
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * rng.uniform(c.scale_min, c.scale_max);
    const double ratio = std::exp(rng.uniform(std::log(c.ratio_min), std::log(c.ratio_max)));
    const int w = static_cast<int>(std::lround(std::sqrt(target * ratio)));
    const int h = static_cast<int>(std::lround(std::sqrt(target / ratio)));
    if (w > 0 && h > 0 && w <= image.width && h <= image.height)
      return {static_cast<int>(rng.below(image.width - w + 1)), static_cast<int>(rng.below(image.height - h + 1)), w, h};
  }
  const double ratio = static_cast<double>(image.width) / image.height;
  int w = image.width, h = image.height;
  if (ratio < c.ratio_min) h = static_cast<int>(std::lround(w / c.ratio_min));
  else if (ratio > c.ratio_max) w = static_cast<int>(std::lround(h * c.ratio_max));
  return {(image.width - w) / 2, (image.height - h) / 2, w, h};
}

cv::Mat center_crop(const cv::Mat& image, int crop, int border, double value) {
  const cv::Rect window((image.cols - crop) / 2, (image.rows - crop) / 2, crop, crop);
  return extract_window(image, window, border, cv::Scalar::all(value));
}
}  // namespace

cv::Size EvalTransform::fixed_size() const {
  if (view == EvalView::Whole || (view == EvalView::ResizeShortSide && crop <= 0)) return {0, 0};
  return {static_cast<int>(crop), static_cast<int>(crop)};
}

cv::Mat classification_train_crop(const cv::Mat& image, const ClassificationCrop& c, const AugmentOptions& augment,
                                  Rng& rng) {
  if (c.size < 1) throw std::invalid_argument("the crop size must be >= 1");
  if (c.mode == TrainCrop::RandomPatch) {
    cv::Mat src = image;
    if (c.padding > 0) {
      const int p = static_cast<int>(c.padding);
      cv::copyMakeBorder(image, src, p, p, p, p, c.pad == PadMode::Reflect ? cv::BORDER_REFLECT_101 : cv::BORDER_CONSTANT,
                         cv::Scalar::all(c.pad_value));
    }
    PatchOptions patch;
    patch.size = c.size;
    patch.pad = c.pad;
    patch.pad_value = c.pad_value;
    return sample_patch(src, cv::Mat(), ClassLocations(), false, patch, augment, rng).image;
  }
  SpatialDraw draw = draw_spatial(augment, rng);  // flips/quarter turns; RRC does its own zoom
  const cv::Rect window = random_resized_window(image.size(), c, rng);
  cv::Mat raw = resize_to(image(window), cv::Size(static_cast<int>(c.size), static_cast<int>(c.size)));
  apply_orientation(raw, draw);
  cv::Mat out;
  raw.convertTo(out, CV_32F, unit_scale(raw.depth()));
  apply_intensity(out, augment, rng);
  return out;
}

cv::Mat eval_view(const cv::Mat& image, const EvalTransform& t) {
  switch (t.view) {
    case EvalView::Whole: return image;
    case EvalView::CenterCrop: return center_crop(image, static_cast<int>(t.crop), cv::BORDER_CONSTANT, 0);
    case EvalView::ResizeShortSide: {
      const double f = static_cast<double>(t.resize) / std::min(image.cols, image.rows);
      const cv::Size size(std::max(1, static_cast<int>(std::lround(image.cols * f))),
                          std::max(1, static_cast<int>(std::lround(image.rows * f))));
      const cv::Mat resized = resize_to(image, size);
      return t.crop > 0 ? center_crop(resized, static_cast<int>(t.crop), cv::BORDER_CONSTANT, 0) : resized;
    }
  }
  return image;
}

torch::Tensor eval_tensor(const cv::Mat& image, const EvalTransform& transform, const Normalization& norm) {
  return image_to_tensor(eval_view(image, transform), norm);
}

torch::Tensor eval_tensor(const std::string& path, const EvalTransform& transform, const Normalization& norm,
                          const ImageReadOptions& read) {
  return eval_tensor(read_image(path, read), transform, norm);
}

}  // namespace skipzoo::data
