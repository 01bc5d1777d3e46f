#pragma once
// Writing a generated segmentation set: split, folders, files, dataset.json, progress (internal).
#include <opencv2/core.hpp>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "skipzoo/data/random.h"
#include "skipzoo/data/tools.h"

namespace skipzoo::data {

struct GeneratedSet {
  std::string out;
  int64_t count = 0;
  double val_fraction = 0.2;
  uint64_t seed = 0;
  int threads = 0;
  Progress progress;
  std::vector<std::string> class_names;  // [0] is background
  std::vector<int> mask_values;          // raw mask value of each class; empty: the class index
};

// make(index, rng) returns (image, labels); each image gets its own Rng from (seed, index), so
// the set does not depend on the thread count.
void write_generated_set(const GeneratedSet& set,
                         const std::function<std::pair<cv::Mat, cv::Mat>(int64_t index, Rng& rng)>& make);

// Smooth random texture in [0, 1] (CV_32F): blurred noise at several scales plus sinusoids.
cv::Mat texture(cv::Size size, Rng& rng);

}  // namespace skipzoo::data
