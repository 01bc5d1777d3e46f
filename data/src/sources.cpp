// Sample sources: decode (or take from the cache), sample, augment, write into the batch.
#include "skipzoo/data/sources.h"

#include "image_internal.h"
#include "skipzoo/data/error.h"

namespace skipzoo::data {

std::shared_ptr<const ImageCache::Entry> ImageCache::find(int64_t item) const {
  if (budget_ <= 0) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = entries_.find(item);
  return it == entries_.end() ? nullptr : it->second;
}

void ImageCache::offer(int64_t item, std::shared_ptr<const Entry> entry) {
  if (budget_ <= 0) return;
  const auto cost = static_cast<int64_t>(entry->image.total() * entry->image.elemSize() +
                                         entry->labels.total() * entry->labels.elemSize());
  std::lock_guard<std::mutex> lock(mutex_);
  if (used_ + cost > budget_ || entries_.count(item)) return;
  entries_[item] = std::move(entry);
  used_ += cost;
}

int64_t ImageCache::bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return used_;
}

namespace {
int64_t channel_count(const std::string& first_image, const ImageReadOptions& read) {
  if (read.channels == Channels::Gray) return 1;
  if (read.channels == Channels::RGB) return 3;
  return read_image(first_image, read).channels();
}

// Decoded in OpenCV's BGR order with `channels` channels: only patches are reordered to RGB.
cv::Mat read_bgr(const std::string& path, int64_t channels) {
  return conform_bgr(decode_bgr(read_file(path), path), static_cast<int>(channels));
}

void write_labels(const cv::Mat& labels, torch::Tensor target) {
  int64_t* dst = target.data_ptr<int64_t>();
  for (int y = 0; y < labels.rows; ++y) {
    const uint8_t* row = labels.ptr<uint8_t>(y);
    for (int x = 0; x < labels.cols; ++x) *dst++ = row[x];
  }
}
}  // namespace

SegmentationPatches::SegmentationPatches(std::vector<SegmentationSample> samples, MaskMapping mapping,
                                         SegmentationSampling options)
    : samples_(std::move(samples)), mapping_(std::move(mapping)), options_(std::move(options)),
      cache_(options_.cache_bytes) {
  if (samples_.empty()) throw DataError("no segmentation samples to load");
  if (options_.patch.size < 1 || options_.patch.patches_per_image < 1)
    throw std::invalid_argument("patch size and patches per image must be >= 1");
  options_.augment.validate();
  channels_ = channel_count(samples_[0].image, options_.read);
  options_.norm.check(channels_);
  locations_.resize(samples_.size());
}

int64_t SegmentationPatches::size() const {
  return static_cast<int64_t>(samples_.size()) * options_.patch.patches_per_image;
}
int64_t SegmentationPatches::item_of(int64_t sample) const { return sample % static_cast<int64_t>(samples_.size()); }
std::vector<int64_t> SegmentationPatches::image_shape() const {
  return {channels_, options_.patch.size, options_.patch.size};
}

std::shared_ptr<const ImageCache::Entry> SegmentationPatches::load(int64_t item) const {
  return cache_.fetch(item, [&] {
    const auto& s = samples_[static_cast<size_t>(item)];
    ImageCache::Entry entry{read_bgr(s.image, channels_), read_mask(s.mask, mapping_)};
    if (entry.labels.size() != entry.image.size())
      throw data_error(s.mask, "the mask's size differs from its image " + s.image);
    return entry;
  });
}

std::shared_ptr<const ClassLocations> SegmentationPatches::locations(int64_t item, const cv::Mat& labels) const {
  {
    std::lock_guard<std::mutex> lock(locations_mutex_);
    if (auto known = locations_[static_cast<size_t>(item)]) return known;
  }
  // Computed outside the lock; a duplicate computation by another thread gives the same result.
  auto found = std::make_shared<const ClassLocations>(
      find_class_locations(labels, options_.patch.background_class, options_.patch.max_locations));
  std::lock_guard<std::mutex> lock(locations_mutex_);
  auto& slot = locations_[static_cast<size_t>(item)];
  if (!slot) slot = found;
  return slot;
}

void SegmentationPatches::fill(int64_t sample, int64_t slot, int64_t batch_size, Rng& rng, torch::Tensor image,
                               torch::Tensor target) const {
  const int64_t item = item_of(sample);
  const bool forced = is_forced_foreground(slot, batch_size, options_.patch.foreground_fraction, rng);
  const auto data = load(item);
  const auto where = forced ? locations(item, data->labels) : std::make_shared<const ClassLocations>();
  auto patch = sample_patch(data->image, data->labels, *where, forced, options_.patch, options_.augment, rng);
  bgr_to_rgb(patch.image);
  image_to_tensor(patch.image, options_.norm, image);
  write_labels(patch.labels, target);
}

ClassificationCrops::ClassificationCrops(std::vector<ClassificationSample> samples, ClassificationSampling options)
    : samples_(std::move(samples)), options_(std::move(options)), cache_(options_.cache_bytes) {
  if (samples_.empty()) throw DataError("no classification samples to load");
  options_.augment.validate();
  const auto& c = options_.crop;
  if (c.size < 1 || c.scale_min <= 0 || c.scale_min > c.scale_max || c.ratio_min <= 0 || c.ratio_min > c.ratio_max)
    throw std::invalid_argument("invalid crop options (size >= 1, 0 < scale_min <= scale_max, 0 < ratio_min <= ratio_max)");
  channels_ = channel_count(samples_[0].image, options_.read);
  options_.norm.check(channels_);
}

std::vector<int64_t> ClassificationCrops::image_shape() const { return {channels_, options_.crop.size, options_.crop.size}; }

void ClassificationCrops::fill(int64_t sample, int64_t, int64_t, Rng& rng, torch::Tensor image,
                               torch::Tensor target) const {
  const auto& s = samples_[static_cast<size_t>(sample)];
  const auto entry = cache_.fetch(sample, [&] {
    return ImageCache::Entry{read_bgr(s.image, channels_), cv::Mat()};
  });
  cv::Mat crop = classification_train_crop(entry->image, options_.crop, options_.augment, rng);
  bgr_to_rgb(crop);
  image_to_tensor(crop, options_.norm, image);
  target.fill_(s.label);
}

ClassificationEval::ClassificationEval(std::vector<ClassificationSample> samples, EvalTransform transform,
                                       Normalization norm, ImageReadOptions read, int64_t cache_bytes)
    : samples_(std::move(samples)), transform_(transform), norm_(std::move(norm)), read_(read), cache_(cache_bytes) {
  if (samples_.empty()) throw DataError("no classification samples to load");
  if (transform_.fixed_size().area() == 0)
    throw std::invalid_argument("batched evaluation needs a fixed-size view (a crop); use eval_tensor() per image");
  channels_ = channel_count(samples_[0].image, read_);
  norm_.check(channels_);
}

std::vector<int64_t> ClassificationEval::image_shape() const {
  const auto size = transform_.fixed_size();
  return {channels_, size.height, size.width};
}

void ClassificationEval::fill(int64_t sample, int64_t, int64_t, Rng&, torch::Tensor image, torch::Tensor target) const {
  const auto& s = samples_[static_cast<size_t>(sample)];
  const auto entry = cache_.fetch(sample, [&] {  // the cache holds the (small) view, not the original
    cv::Mat view = eval_view(read_bgr(s.image, channels_), transform_);
    bgr_to_rgb(view);
    return ImageCache::Entry{view, cv::Mat()};
  });
  image_to_tensor(entry->image, norm_, image);
  target.fill_(s.label);
}

}  // namespace skipzoo::data
