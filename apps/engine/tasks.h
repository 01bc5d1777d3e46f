#pragma once
// The pieces that turn the one training engine into the segmentation or classification app:
// a BatchSource over skipzoo::data's Loader, and the TaskHooks of each task.
#include <skipzoo/data/loader.h>

#include <memory>

#include "engine/classification.h"
#include "engine/losses.h"
#include "engine/segmentation.h"
#include "engine/trainer.h"

namespace skipzoo::app {

class LoaderSource : public BatchSource {
 public:
  explicit LoaderSource(std::unique_ptr<data::Loader> loader) : loader_(std::move(loader)) {}
  int64_t batches_per_epoch() const override { return loader_->batches_per_epoch(); }
  void start_epoch(int64_t epoch, int64_t first_batch) override { loader_->start_epoch(epoch, first_batch); }
  bool next(Batch& batch) override;
  double wait_seconds() const override { return loader_->wait_seconds(); }

 private:
  std::unique_ptr<data::Loader> loader_;
  data::Batch batch_;
};

struct SegTaskOptions {
  std::vector<data::SegmentationSample> val;
  data::MaskMapping mapping;
  int64_t classes = 2;
  SegInference inference;
  SegLossOptions loss;
  int64_t overlays = 4;      // validation images drawn as image | truth | prediction per validation
};

class SegTask : public TaskHooks {
 public:
  explicit SegTask(SegTaskOptions options) : o_(std::move(options)) {}
  torch::Tensor loss(const torch::Tensor& logits, const torch::Tensor& targets) override {
    if (!ranks_) return segmentation_loss(logits, targets, o_.loss);
    return segmentation_loss(logits, targets, o_.loss, [this](const torch::Tensor& t) { return ranks_->sum(t); });
  }
  nlohmann::json validate(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                          const torch::Device& device, const std::string& dir, int64_t epoch) override;
  std::string main_metric() const override { return "mIoU"; }

 private:
  SegTaskOptions o_;
};

struct ClsTaskOptions {
  std::vector<data::ClassificationSample> val;
  std::vector<std::string> class_names;
  ClsInference inference;
  double label_smoothing = 0;
};

class ClsTask : public TaskHooks {
 public:
  explicit ClsTask(ClsTaskOptions options) : o_(std::move(options)) {}
  torch::Tensor loss(const torch::Tensor& logits, const torch::Tensor& targets) override {
    // A mean over this rank's share: equal shares, so the Reducer's average is the batch's mean.
    return classification_loss(logits, targets, o_.label_smoothing);
  }
  // top1/top5/per-class accuracy; writes confusion.csv and confusion.png into the run dir.
  nlohmann::json validate(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                          const torch::Device& device, const std::string& dir, int64_t epoch) override;
  std::string main_metric() const override { return "top1"; }

 private:
  ClsTaskOptions o_;
};

// Each class's share of the labelled pixels of up to `max_masks` masks (evenly spread).
std::vector<double> class_frequencies(const std::vector<std::string>& masks, const data::MaskMapping& mapping,
                                      size_t max_masks = 64);

// Channel mean/std of up to `max_images` images (evenly spread), in [0, 1] units.
data::Normalization estimate_normalization(const std::vector<std::string>& images, const data::ImageReadOptions& read,
                                           int64_t channels, size_t max_images = 64);

}  // namespace skipzoo::app
