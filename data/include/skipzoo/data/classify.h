#pragma once
// Classification transforms: random crops to a fixed size for training, and the evaluation
// views (centre crop, resize-short-side + centre crop, or the whole image at its own size).
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "skipzoo/data/augment.h"
#include "skipzoo/data/image.h"
#include "skipzoo/data/patch.h"

namespace skipzoo::data {

enum class TrainCrop {
  RandomPatch,        // a size x size window at a uniform position (padded if the image is smaller)
  RandomResizedCrop,  // torchvision's: random area share and aspect ratio, resized to size x size
};

struct ClassificationCrop {
  int64_t size = 224;
  TrainCrop mode = TrainCrop::RandomResizedCrop;
  double scale_min = 0.08, scale_max = 1.0;          // area share (RandomResizedCrop)
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;  // aspect ratio w/h (RandomResizedCrop)
  int64_t padding = 0;                  // RandomPatch: pixels added around first (CIFAR's pad-4 crop)
  PadMode pad = PadMode::Constant;
  double pad_value = 0;
};

enum class EvalView {
  CenterCrop,       // crop x crop from the centre (padded if smaller)
  ResizeShortSide,  // short side resized to `resize`, then a crop x crop centre crop (crop 0: none)
  Whole,            // the image at its own size
};

struct EvalTransform {
  EvalView view = EvalView::ResizeShortSide;
  int64_t resize = 256;
  int64_t crop = 224;
  // The size every image gets ([crop, crop]), or {0, 0} if it varies with the image.
  cv::Size fixed_size() const;
};

// A training sample: CV_32F, size x size, [0, 1] units, flipped and colour-augmented per
// `augment` (in RandomPatch mode also zoomed/rotated if those are enabled).
cv::Mat classification_train_crop(const cv::Mat& image, const ClassificationCrop& crop, const AugmentOptions& augment,
                                  Rng& rng);
// The evaluation view of an image (same depth and channels as `image`).
cv::Mat eval_view(const cv::Mat& image, const EvalTransform& transform);
// float [C, H, W], normalised: what a classifier sees for one image at evaluation.
torch::Tensor eval_tensor(const cv::Mat& image, const EvalTransform& transform, const Normalization& norm);
torch::Tensor eval_tensor(const std::string& path, const EvalTransform& transform, const Normalization& norm,
                          const ImageReadOptions& read = {});

}  // namespace skipzoo::data
