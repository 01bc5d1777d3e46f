#pragma once
// Shared steps of the layout checks (internal).
#include <opencv2/core.hpp>

#include <string>
#include <vector>

#include "skipzoo/data/layout.h"

namespace skipzoo::data {

// Strict: throws one DataError listing every problem. skip_bad: warns and records them.
void settle_problems(const std::string& root, const std::vector<std::string>& problems, const CheckOptions& check,
                     std::vector<std::string>& skipped);
// "path: the image is 1x5 pixels; ..." or "" when it is large enough.
std::string check_image_size(const cv::Mat& image, const std::string& path, int64_t min_side);

// Moves items whose index is in the sorted `val_indices` to `val`, the rest to `train`.
template <typename T>
void apply_split(const std::vector<T>& items, const std::vector<int64_t>& val_indices, std::vector<T>& train,
                 std::vector<T>& val) {
  size_t next = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const bool is_val = next < val_indices.size() && static_cast<size_t>(val_indices[next]) == i;
    (is_val ? val : train).push_back(items[i]);
    next += is_val;
  }
}

}  // namespace skipzoo::data
