#pragma once
// OpenCV's native channel order, for the loader's hot path (internal): decoding stays BGR and
// only the small patch is reordered to RGB, instead of the whole decoded image.
#include <opencv2/core.hpp>
#include <skipzoo/data/image.h>

#include <cstdint>
#include <string>
#include <vector>

namespace skipzoo::data {

// As decode_image, with every check, but BGR(A) order and the channels as stored.
cv::Mat decode_bgr(const std::vector<uint8_t>& bytes, const std::string& name,
                   int64_t max_pixels = default_max_image_pixels());
// convert_channels for BGR-ordered images (gray uses the BGR weights).
cv::Mat conform_bgr(const cv::Mat& bgr, int channels);
// BGR(A) -> RGB(A) in place; gray is left alone.
void bgr_to_rgb(cv::Mat& image);

}  // namespace skipzoo::data
