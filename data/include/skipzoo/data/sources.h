#pragma once
// The datasets' sample sources for the Loader: segmentation patches, classification crops
// and classification evaluation views; plus the decoded-image cache they share.
#include <mutex>
#include <unordered_map>

#include "skipzoo/data/classify.h"
#include "skipzoo/data/image.h"
#include "skipzoo/data/layout.h"
#include "skipzoo/data/loader.h"
#include "skipzoo/data/mask.h"
#include "skipzoo/data/patch.h"

namespace skipzoo::data {

// Decoded images (and label maps) kept in memory up to a byte budget. Items are added until
// the budget is full and then stay: with random access, evicting would only churn.
class ImageCache {
 public:
  struct Entry {
    cv::Mat image, labels;
  };
  explicit ImageCache(int64_t budget_bytes) : budget_(budget_bytes) {}
  std::shared_ptr<const Entry> find(int64_t item) const;
  void offer(int64_t item, std::shared_ptr<const Entry> entry);  // kept if it fits the budget
  int64_t bytes() const;
  // The cached entry, or make() it (outside the lock) and offer it.
  template <typename Make>
  std::shared_ptr<const Entry> fetch(int64_t item, Make&& make) {
    if (auto hit = find(item)) return hit;
    auto entry = std::make_shared<const Entry>(make());
    offer(item, entry);
    return entry;
  }

 private:
  int64_t budget_, used_ = 0;
  mutable std::mutex mutex_;
  std::unordered_map<int64_t, std::shared_ptr<const Entry>> entries_;
};

struct SegmentationSampling {
  PatchOptions patch;
  AugmentOptions augment = AugmentOptions::segmentation();
  Normalization norm;
  ImageReadOptions read;    // every image gets the same channel count (AsStored: the first image's)
  int64_t cache_bytes = 0;  // 0: decode every time
};

// images x patches_per_image samples per epoch; targets int64 [P, P] with kIgnoreIndex.
class SegmentationPatches : public SampleSource {
 public:
  SegmentationPatches(std::vector<SegmentationSample> samples, MaskMapping mapping, SegmentationSampling options);
  int64_t size() const override;
  int64_t item_of(int64_t sample) const override;
  std::vector<int64_t> image_shape() const override;
  std::vector<int64_t> target_shape() const override { return {options_.patch.size, options_.patch.size}; }
  void fill(int64_t sample, int64_t slot, int64_t batch_size, Rng& rng, torch::Tensor image,
            torch::Tensor target) const override;
  int64_t channels() const { return channels_; }

 private:
  std::shared_ptr<const ImageCache::Entry> load(int64_t item) const;
  std::shared_ptr<const ClassLocations> locations(int64_t item, const cv::Mat& labels) const;

  std::vector<SegmentationSample> samples_;
  MaskMapping mapping_;
  SegmentationSampling options_;
  int64_t channels_;
  mutable ImageCache cache_;
  mutable std::mutex locations_mutex_;
  mutable std::vector<std::shared_ptr<const ClassLocations>> locations_;  // computed on first use
};

struct ClassificationSampling {
  ClassificationCrop crop;
  AugmentOptions augment = AugmentOptions::classification();
  Normalization norm;
  ImageReadOptions read;
  int64_t cache_bytes = 0;
};

// Training: one random crop per image per epoch; targets int64 [] (the class id).
class ClassificationCrops : public SampleSource {
 public:
  ClassificationCrops(std::vector<ClassificationSample> samples, ClassificationSampling options);
  int64_t size() const override { return static_cast<int64_t>(samples_.size()); }
  std::vector<int64_t> image_shape() const override;
  std::vector<int64_t> target_shape() const override { return {}; }
  void fill(int64_t sample, int64_t slot, int64_t batch_size, Rng& rng, torch::Tensor image,
            torch::Tensor target) const override;

 private:
  std::vector<ClassificationSample> samples_;
  ClassificationSampling options_;
  int64_t channels_;
  mutable ImageCache cache_;
};

// Evaluation: the fixed-size view of each image (use eval_tensor() for whole images).
class ClassificationEval : public SampleSource {
 public:
  ClassificationEval(std::vector<ClassificationSample> samples, EvalTransform transform, Normalization norm,
                     ImageReadOptions read = {}, int64_t cache_bytes = 0);
  int64_t size() const override { return static_cast<int64_t>(samples_.size()); }
  std::vector<int64_t> image_shape() const override;
  std::vector<int64_t> target_shape() const override { return {}; }
  void fill(int64_t sample, int64_t slot, int64_t batch_size, Rng& rng, torch::Tensor image,
            torch::Tensor target) const override;

 private:
  std::vector<ClassificationSample> samples_;
  EvalTransform transform_;
  Normalization norm_;
  ImageReadOptions read_;
  int64_t channels_;
  mutable ImageCache cache_;
};

}  // namespace skipzoo::data
