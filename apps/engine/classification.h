#pragma once
// Classification inference and metrics shared by training validation, `predict` and `eval`:
// images of any size through an evaluation view (centre crop, resize-short-side, the whole
// image) or averaged over several crops; top-k, per-class accuracy and the confusion matrix.
#include <nlohmann/json.hpp>
#include <skipzoo/data/classify.h>
#include <skipzoo/data/image.h>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "engine/metrics.h"

namespace skipzoo::app {

struct ClsInference {
  data::EvalTransform view;
  int64_t crops = 1;  // 5: four corners + centre of the resized image; 10: and their mirror images
  data::Normalization norm;
  data::ImageReadOptions read;
  torch::Device device{torch::kCPU};
  int64_t batch = 64;
  int workers = 2;
};

// Class probabilities [N, K] (float, CPU) for the images, in order.
torch::Tensor classify_images(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                              const std::vector<std::string>& images, const ClsInference& inference,
                              const std::function<void(int64_t done, int64_t total)>& progress = {});

// The crops of one image for --crops 5/10: [n, C, crop, crop], normalised.
torch::Tensor multi_crop_tensor(const cv::Mat& image, const data::EvalTransform& view, int64_t crops,
                                const data::Normalization& norm);

// top1, top5, per-class accuracy (null for classes without images), mean class accuracy,
// and the confusion matrix (rows: truth, columns: prediction).
nlohmann::json classification_metrics(const torch::Tensor& probs, const torch::Tensor& labels,
                                      const std::vector<std::string>& class_names);
ConfusionMatrix confusion_of(const torch::Tensor& probs, const torch::Tensor& labels, int64_t classes);
// confusion.csv and confusion.png (a heatmap) in `dir`.
void write_confusion(const std::string& dir, const ConfusionMatrix& cm, const std::vector<std::string>& names);

}  // namespace skipzoo::app
