#pragma once
// Segmentation inference and evaluation shared by training validation, `predict` and `eval`:
// whole images of any size through the sliding-window tiler (or in one pass), a dataset-level
// confusion matrix, and the pictures people look at (colour masks, overlays).
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <skipzoo/data/image.h>
#include <skipzoo/data/layout.h>
#include <skipzoo/data/mask.h>
#include <skipzoo/data/tiler.h>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "engine/metrics.h"

namespace skipzoo::app {

using ForwardFn = std::function<torch::Tensor(const torch::Tensor&)>;

struct SegInference {
  data::TileOptions tile;
  bool use_tiles = true;  // false: the whole image in one forward pass
  data::Normalization norm;
  data::ImageReadOptions read;
  torch::Device device{torch::kCPU};
};

// Logits [K,H,W] (float, CPU) for a decoded image (gray/RGB, 8/16-bit, any size).
torch::Tensor segment_image(const ForwardFn& forward, const cv::Mat& image, const SegInference& inference);

// Distinct colours for class ids (0 is dark grey); ignored pixels are black.
cv::Mat colorize_labels(const cv::Mat& labels);
// An 8-bit RGB view of any decoded image (16-bit scaled, gray replicated, alpha dropped).
cv::Mat display_rgb(const cv::Mat& image);
// Image with the labels' colours blended over it (background and ignored pixels left as they are).
cv::Mat overlay_labels(const cv::Mat& image, const cv::Mat& labels, double alpha = 0.45);
// image | truth | prediction side by side, with captions.
cv::Mat overlay_panel(const cv::Mat& image, const cv::Mat& truth, const cv::Mat& prediction);

// Metrics as JSON: mIoU, mDice, pixel_acc (scalars) and iou/dice per class (null when absent).
nlohmann::json segmentation_metrics(const ConfusionMatrix& cm);

// Evaluates a dataset: every image predicted whole-size, its mask mapped with `mapping`;
// `on_image(index, image, truth, prediction)` sees each result (for overlays), may be empty.
using SegImageSink = std::function<void(size_t, const cv::Mat&, const cv::Mat&, const cv::Mat&)>;
ConfusionMatrix evaluate_segmentation(const ForwardFn& forward, const std::vector<data::SegmentationSample>& samples,
                                      const data::MaskMapping& mapping, int64_t classes,
                                      const SegInference& inference, const SegImageSink& on_image = {});

}  // namespace skipzoo::app
