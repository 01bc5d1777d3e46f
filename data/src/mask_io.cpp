// Applying a MaskMapping to pixels, and mask files in and out.
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <sstream>
#include <unordered_map>

#include "skipzoo/data/error.h"
#include "skipzoo/data/image.h"
#include "skipzoo/data/mask.h"

namespace skipzoo::data {

namespace {
constexpr uint16_t kUnknown = 256;

// A gray mask under a colour table stands for the colour (g, g, g), for g in 0..255.
uint32_t gray_colour_key(uint32_t g) { return g * 0x010101u; }

// 16-bit gray values above 255 stand for no colour (found by fuzz_mask_mapping: map() and
// check_counts() disagreed on them, and 65535 * 0x010101 wrapped to a colour).
std::string gray_above_255(int64_t pixels, const std::string& mapping) {
  return std::to_string(pixels) + " pixels of this gray mask are above 255, so they stand for no colour of the colour "
         "table; mapping: " + mapping;
}

// A colour image whose channels are all equal is a gray mask saved as RGB.
bool channels_equal(const cv::Mat& raw) {
  std::vector<cv::Mat> planes;
  cv::split(raw, planes);
  return cv::countNonZero(planes[0] != planes[1]) == 0 && cv::countNonZero(planes[0] != planes[2]) == 0;
}

cv::Mat first_channel(const cv::Mat& raw) {
  if (raw.channels() == 1) return raw;
  cv::Mat c;
  cv::extractChannel(raw, c, 0);
  return c;
}

uint32_t rgb_key(const uint8_t* p) { return (uint32_t(p[0]) << 16) | (uint32_t(p[1]) << 8) | p[2]; }

template <typename T>
void count_gray(const cv::Mat& gray, std::map<uint32_t, int64_t>& counts) {
  std::vector<int64_t> hist(gray.depth() == CV_16U ? 65536 : 256, 0);
  for (int y = 0; y < gray.rows; ++y) {
    const T* row = gray.ptr<T>(y);
    for (int x = 0; x < gray.cols; ++x) ++hist[row[x]];
  }
  for (size_t v = 0; v < hist.size(); ++v)
    if (hist[v]) counts[static_cast<uint32_t>(v)] = hist[v];
}

std::string list_unknown(const std::map<uint32_t, int64_t>& unknown, bool colour) {
  std::ostringstream out;
  int shown = 0;
  for (const auto& [key, n] : unknown) {
    if (shown++ == 10) {
      out << ", ... (" << unknown.size() << " values in all)";
      break;
    }
    if (shown > 1) out << ", ";
    if (colour) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "#%06x", key);
      out << buf;
    } else {
      out << key;
    }
    out << " (" << n << " px)";
  }
  return out.str();
}
}  // namespace

std::map<uint32_t, int64_t> mask_key_counts(const cv::Mat& raw, bool* colour) {
  std::map<uint32_t, int64_t> counts;
  const bool is_colour = raw.channels() >= 3 && !channels_equal(raw);
  if (colour) *colour = is_colour;
  if (!is_colour) {
    const cv::Mat gray = first_channel(raw);
    if (gray.depth() == CV_16U) count_gray<uint16_t>(gray, counts);
    else count_gray<uint8_t>(gray, counts);
    return counts;
  }
  if (raw.depth() != CV_8U) throw std::invalid_argument("colour masks must be 8-bit");
  std::unordered_map<uint32_t, int64_t> hash;
  const int step = raw.channels();
  for (int y = 0; y < raw.rows; ++y) {
    const uint8_t* row = raw.ptr<uint8_t>(y);
    for (int x = 0; x < raw.cols; ++x) ++hash[rgb_key(row + x * step)];
  }
  counts.insert(hash.begin(), hash.end());
  return counts;
}

cv::Mat MaskMapping::map(const cv::Mat& raw, const std::string& name) const {
  if (raw.empty()) throw data_error(name, "empty mask");
  cv::Mat labels(raw.rows, raw.cols, CV_8U);
  std::map<uint32_t, int64_t> unknown;
  const bool raw_colour = raw.channels() >= 3 && !channels_equal(raw);

  if (kind_ == Kind::Values) {
    if (raw_colour)
      throw data_error(name, "the mask is a colour image but the mapping lists gray values (" + describe() +
                                 "); pass a colour table instead (e.g. --mask-values '#000000,#ff0000' or voc)");
    const cv::Mat gray = first_channel(raw);
    std::vector<uint16_t> lut(gray.depth() == CV_16U ? 65536 : 256, kUnknown);
    for (size_t i = 0; i < keys_.size(); ++i)
      if (keys_[i] < lut.size()) lut[keys_[i]] = static_cast<uint16_t>(i);
    if (has_ignore_ && ignore_key_ < lut.size()) lut[ignore_key_] = static_cast<uint16_t>(kIgnoreIndex);
    const auto apply = [&](auto tag) {
      using T = decltype(tag);
      for (int y = 0; y < gray.rows; ++y) {
        const T* in = gray.ptr<T>(y);
        uint8_t* out = labels.ptr<uint8_t>(y);
        for (int x = 0; x < gray.cols; ++x) {
          const uint16_t c = lut[in[x]];
          if (c == kUnknown) ++unknown[in[x]];
          out[x] = static_cast<uint8_t>(c);
        }
      }
    };
    if (gray.depth() == CV_16U) apply(uint16_t{});
    else apply(uint8_t{});
  } else {
    if (raw_colour && raw.depth() != CV_8U) throw data_error(name, "colour masks must be 8-bit");
    std::unordered_map<uint32_t, uint8_t> lut;
    for (size_t i = 0; i < keys_.size(); ++i) lut[keys_[i]] = static_cast<uint8_t>(i);
    if (has_ignore_) lut[ignore_key_] = static_cast<uint8_t>(kIgnoreIndex);
    const auto label = [&](uint32_t key, uint8_t& out) {
      const auto it = lut.find(key);
      if (it == lut.end()) ++unknown[key];
      else out = it->second;
    };
    if (raw_colour) {
      const int step = raw.channels();
      for (int y = 0; y < raw.rows; ++y) {
        const uint8_t* in = raw.ptr<uint8_t>(y);
        uint8_t* out = labels.ptr<uint8_t>(y);
        for (int x = 0; x < raw.cols; ++x) label(rgb_key(in + x * step), out[x]);
      }
    } else {  // gray, or equal channels: as mask_key_counts() and check_counts() see it
      cv::Mat gray;
      first_channel(raw).convertTo(gray, CV_32S);
      int64_t too_high = 0;
      for (int y = 0; y < gray.rows; ++y) {
        const int32_t* in = gray.ptr<int32_t>(y);
        uint8_t* out = labels.ptr<uint8_t>(y);
        for (int x = 0; x < gray.cols; ++x) {
          if (in[x] > 255) ++too_high;
          else label(gray_colour_key(static_cast<uint32_t>(in[x])), out[x]);
        }
      }
      if (too_high > 0) throw data_error(name, gray_above_255(too_high, describe()));
    }
  }
  if (!unknown.empty())
    throw data_error(name, "mask values outside the classes and not the ignore value: " +
                               list_unknown(unknown, kind_ == Kind::Colors) + "; mapping: " + describe());
  return labels;
}

std::string MaskMapping::check_counts(const std::map<uint32_t, int64_t>& counts, bool colour) const {
  if (kind_ == Kind::Values && colour)
    return "the mask is a colour image but the mapping lists gray values (" + describe() + ")";
  std::map<uint32_t, int64_t> unknown;
  int64_t too_high = 0;
  for (const auto& [key, n] : counts) {
    if (kind_ == Kind::Colors && !colour && key > 255) {
      too_high += n;
      continue;
    }
    const uint32_t k = kind_ == Kind::Colors && !colour ? gray_colour_key(key) : key;
    if (std::find(keys_.begin(), keys_.end(), k) == keys_.end() && !(has_ignore_ && k == ignore_key_)) unknown[k] = n;
  }
  if (too_high > 0) return gray_above_255(too_high, describe());
  if (unknown.empty()) return "";
  return "mask values outside the classes and not the ignore value: " + list_unknown(unknown, kind_ == Kind::Colors) +
         "; mapping: " + describe();
}

cv::Mat MaskMapping::unmap(const cv::Mat& labels) const {
  cv::Mat ids;
  if (labels.type() == CV_8U) ids = labels;
  else if (labels.type() == CV_32S) labels.convertTo(ids, CV_8U);  // ids are < 256
  else throw std::invalid_argument("unmap: labels must be CV_8U or CV_32S");
  const uint32_t fallback = has_ignore_ ? ignore_key_ : 0;
  std::vector<uint32_t> lut(256, UINT32_MAX);
  for (size_t i = 0; i < keys_.size(); ++i) lut[i] = keys_[i];
  lut[kIgnoreIndex] = fallback;
  const auto key_of = [&](uint8_t id) {
    if (lut[id] == UINT32_MAX) throw std::invalid_argument("unmap: label " + std::to_string(id) + " is not a class");
    return lut[id];
  };
  if (kind_ == Kind::Colors) {
    cv::Mat out(ids.rows, ids.cols, CV_8UC3);
    for (int y = 0; y < ids.rows; ++y)
      for (int x = 0; x < ids.cols; ++x) {
        const uint32_t k = key_of(ids.at<uint8_t>(y, x));
        out.at<cv::Vec3b>(y, x) = cv::Vec3b(uint8_t(k >> 16), uint8_t(k >> 8), uint8_t(k));
      }
    return out;
  }
  uint32_t largest = fallback;
  for (uint32_t k : keys_) largest = std::max(largest, k);
  cv::Mat out(ids.rows, ids.cols, largest > 255 ? CV_16U : CV_8U);
  for (int y = 0; y < ids.rows; ++y)
    for (int x = 0; x < ids.cols; ++x) {
      const uint32_t k = key_of(ids.at<uint8_t>(y, x));
      if (largest > 255) out.at<uint16_t>(y, x) = static_cast<uint16_t>(k);
      else out.at<uint8_t>(y, x) = static_cast<uint8_t>(k);
    }
  return out;
}

cv::Mat read_raw_mask(const std::string& path) {
  ImageReadOptions options;
  options.keep_alpha = false;
  return read_image(path, options);
}

cv::Mat read_mask(const std::string& path, const MaskMapping& mapping) {
  return mapping.map(read_raw_mask(path), path);
}

void write_mask(const std::string& path, const cv::Mat& labels, const MaskMapping& mapping) {
  write_image(path, mapping.unmap(labels));
}

torch::Tensor labels_to_tensor(const cv::Mat& labels) {
  if (labels.type() != CV_8U) throw std::invalid_argument("labels_to_tensor: labels must be CV_8U");
  auto out = torch::empty({labels.rows, labels.cols}, torch::kLong);
  int64_t* dst = out.data_ptr<int64_t>();
  for (int y = 0; y < labels.rows; ++y) {
    const uint8_t* row = labels.ptr<uint8_t>(y);
    for (int x = 0; x < labels.cols; ++x) *dst++ = row[x];
  }
  return out;
}

cv::Mat tensor_to_labels(const torch::Tensor& labels) {
  if (labels.dim() != 2) throw std::invalid_argument("tensor_to_labels: expected [H, W]");
  const auto ids = labels.to(torch::kCPU).to(torch::kLong).contiguous();
  if (ids.numel() && (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() > 255))
    throw std::invalid_argument("tensor_to_labels: labels must lie in 0..255");
  const auto bytes = ids.to(torch::kUInt8).contiguous();
  cv::Mat view(static_cast<int>(ids.size(0)), static_cast<int>(ids.size(1)), CV_8U, bytes.data_ptr<uint8_t>());
  return view.clone();  // own the memory: `bytes` dies here
}

}  // namespace skipzoo::data
