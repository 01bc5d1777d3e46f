// `fashion-mosaic`: a segmentation set from real images. Fashion-MNIST items are pasted at
// random places and scales; an item's pixels are the ones brighter than a threshold.
#include <opencv2/imgproc.hpp>

#include "generated_set.h"
#include "skipzoo/data/error.h"
#include "skipzoo/data/tools.h"

namespace skipzoo::data {

namespace {
std::pair<cv::Mat, cv::Mat> make_mosaic(const MosaicOptions& o, const IdxImages& items,
                                        const std::vector<uint8_t>& item_labels, Rng& rng) {
  const cv::Size size(static_cast<int>(o.min_size + rng.below(o.max_size - o.min_size + 1)),
                      static_cast<int>(o.min_size + rng.below(o.max_size - o.min_size + 1)));
  // A dark textured background stays below the threshold, so labels follow the items only.
  cv::Mat image;
  texture(size, rng).convertTo(image, CV_8U, rng.uniform(0.3, 0.9) * o.threshold);
  cv::Mat labels = cv::Mat::zeros(size, CV_8U);
  const int64_t n = o.min_items + rng.below(o.max_items - o.min_items + 1);
  const int64_t plane = items.rows * items.cols;
  for (int64_t k = 0; k < n; ++k) {
    const int64_t pick = rng.below(items.count);
    const cv::Mat item(static_cast<int>(items.rows), static_cast<int>(items.cols), CV_8U,
                       const_cast<uint8_t*>(items.pixels.data() + pick * plane));
    const double scale = rng.uniform(o.min_scale, o.max_scale);
    int side = static_cast<int>(std::lround(static_cast<double>(items.rows) * scale));
    side = std::max(4, std::min({side, size.width, size.height}));
    cv::Mat scaled;
    cv::resize(item, scaled, cv::Size(side, side), 0, 0, side < items.rows ? cv::INTER_AREA : cv::INTER_LINEAR);
    const int x0 = static_cast<int>(rng.below(size.width - side + 1)), y0 = static_cast<int>(rng.below(size.height - side + 1));
    const auto label = static_cast<uint8_t>(1 + item_labels[static_cast<size_t>(pick)]);
    for (int y = 0; y < side; ++y)
      for (int x = 0; x < side; ++x) {
        const uint8_t v = scaled.at<uint8_t>(y, x);
        if (v <= o.threshold) continue;  // later items cover earlier ones
        image.at<uint8_t>(y0 + y, x0 + x) = v;
        labels.at<uint8_t>(y0 + y, x0 + x) = label;
      }
  }
  return {image, labels};
}
}  // namespace

void make_fashion_mosaic(const MosaicOptions& o) {
  if (o.min_size < 8 || o.max_size < o.min_size) throw std::invalid_argument("sizes must satisfy 8 <= min-size <= max-size");
  if (o.min_items < 0 || o.max_items < o.min_items) throw std::invalid_argument("item counts must satisfy 0 <= min <= max");
  if (!(o.min_scale > 0 && o.min_scale <= o.max_scale)) throw std::invalid_argument("scales must satisfy 0 < min <= max");
  if (o.threshold < 0 || o.threshold > 254) throw std::invalid_argument("the threshold must be in 0..254");
  const auto items = read_idx_images(o.images);
  const auto item_labels = read_idx_labels(o.labels);
  if (static_cast<int64_t>(item_labels.size()) != items.count || items.count == 0)
    throw data_error(o.labels, "label count does not match the images in " + o.images);
  auto names = fashion_mnist_class_names();
  names.insert(names.begin(), "background");
  for (uint8_t l : item_labels)
    if (l >= 10) throw data_error(o.labels, "label " + std::to_string(l) + " is not a Fashion-MNIST class (0..9)");
  GeneratedSet set{o.out, o.count, o.val_fraction, o.seed, o.threads, o.progress, names, {}};
  write_generated_set(set, [&](int64_t, Rng& rng) { return make_mosaic(o, items, item_labels, rng); });
}

}  // namespace skipzoo::data
