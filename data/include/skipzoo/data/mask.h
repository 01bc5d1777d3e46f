#pragma once
// Segmentation masks: raw mask files (gray values or RGB colours) <-> class-id label maps.
#include <c10/util/Optional.h>
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace skipzoo::data {

// The label of ignored pixels in every label map (and the loss's ignore_index). Class ids are
// 0 .. classes-1 < 255, so label maps fit CV_8U.
constexpr int64_t kIgnoreIndex = 255;
constexpr int64_t kMaxClasses = 255;

using Rgb = std::array<uint8_t, 3>;

// Maps raw mask values to class ids 0..K-1 in the listed order, and back.
//   values({0, 255})  binary masks saved as 0/255 -> classes 0 and 1
//   identity(K)       index masks whose value is the class id (0..K-1)
//   colors({...})     RGB colour -> class (e.g. voc(): Pascal VOC's palette)
// A raw value (or colour) equal to the ignore value becomes kIgnoreIndex. When the ignore value
// is itself listed as a class (e.g. values({0, 255}) with the default ignore 255), the class wins
// and nothing is ignored. Any other unlisted value is an error naming the file and the values.
class MaskMapping {
 public:
  enum class Kind { Values, Colors };

  MaskMapping();  // identity(2): masks already store 0/1
  static MaskMapping values(std::vector<int> raw_values, int ignore_value = 255);
  static MaskMapping identity(int64_t classes, int ignore_value = 255);
  static MaskMapping colors(std::vector<Rgb> colors, c10::optional<Rgb> ignore_color = c10::nullopt);
  static MaskMapping voc(int64_t classes = 21);  // VOC palette, ignore colour (224, 224, 192)
  // "0,255" (values), "identity:3", "voc", "voc:21", "#000000,#ff0000,..." (colours).
  static MaskMapping parse(const std::string& spec, int ignore_value = 255);
  // From the distinct keys found in masks (see mask_key_counts): every key becomes a class in
  // sorted order, except the ignore value, unless that would leave fewer than two classes
  // (0/255 masks scan as two classes). More than max_classes keys is a DataError that names
  // `where` and suggests the likely cause (JPEG artefacts, anti-aliased edges).
  static MaskMapping from_scan(const std::map<uint32_t, int64_t>& key_counts, bool colour, int64_t max_classes,
                               int ignore_value, const std::string& where);

  Kind kind() const { return kind_; }
  int64_t num_classes() const { return static_cast<int64_t>(keys_.size()); }
  // Raw value (Values) or 0xRRGGBB (Colors) of each class.
  const std::vector<uint32_t>& keys() const { return keys_; }
  bool has_ignore() const { return has_ignore_; }
  uint32_t ignore_key() const { return ignore_key_; }
  std::string describe() const;  // e.g. "values 0,255 -> classes 0..1 (ignore 128)"

  std::string to_json() const;   // stored with checkpoints/exports
  static MaskMapping from_json(const std::string& json);

  // Raw mask (gray 8/16-bit, or RGB(A) for colours) -> CV_8U labels. `name` is used in errors.
  cv::Mat map(const cv::Mat& raw, const std::string& name) const;
  // Labels (CV_8U or CV_32S, kIgnoreIndex for ignored) -> raw values: CV_8U/CV_16U gray, or RGB.
  // Ignored pixels get the ignore value (or 0 / black if there is none).
  cv::Mat unmap(const cv::Mat& labels) const;
  // Why a mask with these key counts (see mask_key_counts) does not fit the mapping, or "".
  std::string check_counts(const std::map<uint32_t, int64_t>& key_counts, bool colour) const;

  bool operator==(const MaskMapping& other) const;

 private:
  Kind kind_ = Kind::Values;
  std::vector<uint32_t> keys_;
  bool has_ignore_ = false;
  uint32_t ignore_key_ = 0;
};

// Distinct keys of a raw mask with their pixel counts: gray values, or 0xRRGGBB for colour
// masks (colour = 3/4 channels that are not all equal). `colour` reports which.
std::map<uint32_t, int64_t> mask_key_counts(const cv::Mat& raw, bool* colour);

// Reads a mask file as it is stored (gray or RGB, 8/16-bit); errors are DataErrors.
cv::Mat read_raw_mask(const std::string& path);
// CV_8U [H, W] class ids with kIgnoreIndex for ignored pixels.
cv::Mat read_mask(const std::string& path, const MaskMapping& mapping);
// Writes labels in the mapping's raw values (so predictions look like the training masks).
void write_mask(const std::string& path, const cv::Mat& labels, const MaskMapping& mapping);

torch::Tensor labels_to_tensor(const cv::Mat& labels);   // int64 [H, W]
cv::Mat tensor_to_labels(const torch::Tensor& labels);   // integer [H, W] -> CV_8U

}  // namespace skipzoo::data
