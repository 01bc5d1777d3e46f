#pragma once
/// @file
/// Classification transforms: random crops to a fixed size for training, and the evaluation
/// views (centre crop, resize-short-side + centre crop, or the whole image at its own size).
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "skipzoo/data/augment.h"
#include "skipzoo/data/image.h"
#include "skipzoo/data/patch.h"

namespace skipzoo::data {

/// How a training crop is chosen.
enum class TrainCrop {
  RandomPatch,        ///< a size x size window at a uniform position (padded if the image is smaller)
  RandomResizedCrop,  ///< torchvision's: random area share and aspect ratio, resized to size x size
};

/// Options of classification_train_crop().
struct ClassificationCrop {
  int64_t size = 224;                              ///< output side, pixels (>= 1)
  TrainCrop mode = TrainCrop::RandomResizedCrop;   ///< how the window is chosen
  double scale_min = 0.08, scale_max = 1.0;          ///< area share (RandomResizedCrop)
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;  ///< aspect ratio w/h, log-uniform (RandomResizedCrop)
  /// RandomPatch: pixels added on every side first (CIFAR's pad-4 crop, He et al. 2015, "Deep
  /// Residual Learning for Image Recognition", §4.2).
  int64_t padding = 0;
  PadMode pad = PadMode::Constant;  ///< RandomPatch: how `padding` and images smaller than `size` are filled
  double pad_value = 0;             ///< raw pixel value of PadMode::Constant (e.g. 0..255 for 8-bit images)
};

/// What an evaluation view shows of an image.
enum class EvalView {
  CenterCrop,       ///< crop x crop from the centre (padded with zeros if smaller)
  ResizeShortSide,  ///< short side resized to `resize`, then a crop x crop centre crop (crop 0: none)
  Whole,            ///< the image at its own size
};

/// "center", "resize" or "whole"; throws std::invalid_argument for any other name.
EvalView parse_eval_view(const std::string& name);
/// The name parse_eval_view() reads: "center", "resize" or "whole".
std::string eval_view_name(EvalView view);

/// The evaluation view of a classifier; the defaults are torchvision's ImageNet evaluation.
struct EvalTransform {
  EvalView view = EvalView::ResizeShortSide;  ///< which view
  int64_t resize = 256;                       ///< ResizeShortSide: the short side's new length, pixels
  int64_t crop = 224;                         ///< side of the centre crop, pixels
  /// The size every image gets ([crop, crop]), or {0, 0} if it varies with the image (Whole, or
  /// ResizeShortSide with crop <= 0).
  cv::Size fixed_size() const;
};

/// A training sample: CV_32F, size x size, the image's channels, [0, 1] units, flipped and
/// colour-augmented per `augment` (in RandomPatch mode also zoomed/rotated if those are
/// enabled). Throws std::invalid_argument when crop.size < 1.
cv::Mat classification_train_crop(const cv::Mat& image, const ClassificationCrop& crop, const AugmentOptions& augment,
                                  Rng& rng);
/// The evaluation view of an image (same depth and channels as `image`); resizing averages areas
/// when shrinking and is bilinear when enlarging.
cv::Mat eval_view(const cv::Mat& image, const EvalTransform& transform);
/// float [C, H, W], normalised: what a classifier sees for one image at evaluation. Throws
/// std::invalid_argument when `norm` does not fit the channels (see Normalization::check).
torch::Tensor eval_tensor(const cv::Mat& image, const EvalTransform& transform, const Normalization& norm);
/// The same for an image file, read with `read`. Throws DataError for an unreadable image.
torch::Tensor eval_tensor(const std::string& path, const EvalTransform& transform, const Normalization& norm,
                          const ImageReadOptions& read = {});

}  // namespace skipzoo::data
