#pragma once
/// @file
/// The datasets' sample sources for the Loader: segmentation patches, classification crops
/// and classification evaluation views; plus the decoded-image cache they share. Images are
/// decoded with the channel count of ImageReadOptions (AsStored: the first image's) and reach
/// the batch in RGB order, normalised.
#include <mutex>
#include <unordered_map>

#include "skipzoo/data/classify.h"
#include "skipzoo/data/image.h"
#include "skipzoo/data/layout.h"
#include "skipzoo/data/loader.h"
#include "skipzoo/data/mask.h"
#include "skipzoo/data/patch.h"

namespace skipzoo::data {

/// Decoded images (and label maps) kept in memory up to a byte budget. Items are added until
/// the budget is full and then stay: with random access, evicting would only churn. Thread-safe.
class ImageCache {
 public:
  /// One cached item.
  struct Entry {
    cv::Mat image, labels;  ///< the decoded image; its label map (empty for classification)
  };
  /// A cache of at most `budget_bytes` bytes of pixels; <= 0: caches nothing.
  explicit ImageCache(int64_t budget_bytes) : budget_(budget_bytes) {}
  /// The entry of `item`, or null.
  std::shared_ptr<const Entry> find(int64_t item) const;
  /// Keeps `entry` if it fits the remaining budget and `item` is not cached yet.
  void offer(int64_t item, std::shared_ptr<const Entry> entry);
  /// Bytes of pixels cached.
  int64_t bytes() const;
  /// The cached entry, or make() it (outside the lock) and offer it. Throws what make() throws.
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

/// Options of SegmentationPatches.
struct SegmentationSampling {
  PatchOptions patch;  ///< patch size, foreground oversampling, padding
  AugmentOptions augment = AugmentOptions::segmentation();  ///< augmentation of every patch
  Normalization norm;  ///< applied after scaling to [0, 1]
  ImageReadOptions read;    ///< every image gets the same channel count (AsStored: the first image's)
  int64_t cache_bytes = 0;  ///< ImageCache budget, bytes; 0: decode every time
};

/// Segmentation training patches (nnU-Net style, see patch.h): images x patches_per_image
/// samples per epoch; images float [C, P, P], targets int64 [P, P] (P = patch.size) with
/// kIgnoreIndex outside the image.
class SegmentationPatches : public SampleSource {
 public:
  /// Validates the options and reads the first image for its channel count. Throws DataError for
  /// no samples or an unreadable first image, std::invalid_argument for patch.size or
  /// patches_per_image < 1, invalid augmentation or a normalisation that does not fit.
  SegmentationPatches(std::vector<SegmentationSample> samples, MaskMapping mapping, SegmentationSampling options);
  /// images x patches_per_image.
  int64_t size() const override;
  /// sample % images: the image a patch comes from.
  int64_t item_of(int64_t sample) const override;
  /// [C, P, P].
  std::vector<int64_t> image_shape() const override;
  /// [P, P].
  std::vector<int64_t> target_shape() const override { return {options_.patch.size, options_.patch.size}; }
  /// Decodes (or takes from the cache) the image and mask, samples and augments one patch, and
  /// writes it into the batch. Throws DataError for an unreadable image or mask, a mask value
  /// outside the mapping or a mask whose size differs from its image.
  void fill(int64_t sample, int64_t slot, int64_t batch_size, Rng& rng, torch::Tensor image,
            torch::Tensor target) const override;
  /// C, the channels of every patch.
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

/// Options of ClassificationCrops.
struct ClassificationSampling {
  ClassificationCrop crop;  ///< crop size and mode
  AugmentOptions augment = AugmentOptions::classification();  ///< augmentation of every crop
  Normalization norm;       ///< applied after scaling to [0, 1]
  ImageReadOptions read;    ///< every image gets the same channel count (AsStored: the first image's)
  int64_t cache_bytes = 0;  ///< ImageCache budget for decoded images, bytes; 0: decode every time
};

/// Training: one random crop per image per epoch; images float [C, S, S] (S = crop.size),
/// targets int64 [] (the class id).
class ClassificationCrops : public SampleSource {
 public:
  /// Validates the options and reads the first image for its channel count. Throws DataError for
  /// no samples or an unreadable first image, std::invalid_argument for invalid crop or
  /// augmentation options or a normalisation that does not fit.
  ClassificationCrops(std::vector<ClassificationSample> samples, ClassificationSampling options);
  /// The number of images.
  int64_t size() const override { return static_cast<int64_t>(samples_.size()); }
  /// [C, S, S].
  std::vector<int64_t> image_shape() const override;
  /// {}: one class id per sample.
  std::vector<int64_t> target_shape() const override { return {}; }
  /// Decodes (or takes from the cache) the image and writes one augmented crop and its label.
  /// Throws DataError for an unreadable image.
  void fill(int64_t sample, int64_t slot, int64_t batch_size, Rng& rng, torch::Tensor image,
            torch::Tensor target) const override;

 private:
  std::vector<ClassificationSample> samples_;
  ClassificationSampling options_;
  int64_t channels_;
  mutable ImageCache cache_;
};

/// Evaluation: the fixed-size view of each image (use eval_tensor() for whole images); images
/// float [C, crop, crop], targets int64 [] (the class id). Deterministic: the Rng is unused.
class ClassificationEval : public SampleSource {
 public:
  /// Reads the first image for its channel count; cache_bytes is the ImageCache budget for the
  /// views. Throws DataError for no samples or an unreadable first image, std::invalid_argument
  /// for a view without a fixed size (see EvalTransform::fixed_size) or a normalisation that
  /// does not fit.
  ClassificationEval(std::vector<ClassificationSample> samples, EvalTransform transform, Normalization norm,
                     ImageReadOptions read = {}, int64_t cache_bytes = 0);
  /// The number of images.
  int64_t size() const override { return static_cast<int64_t>(samples_.size()); }
  /// [C, crop, crop].
  std::vector<int64_t> image_shape() const override;
  /// {}: one class id per sample.
  std::vector<int64_t> target_shape() const override { return {}; }
  /// Decodes (or takes from the cache) the image's view and writes it and its label. Throws
  /// DataError for an unreadable image.
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
