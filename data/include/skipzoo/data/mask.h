#pragma once
/// @file
/// Segmentation masks: raw mask files (gray values or RGB colours) <-> class-id label maps.
#include <c10/util/Optional.h>
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace skipzoo::data {

/// The label of ignored pixels in every label map (and the loss's ignore_index). Class ids are
/// 0 .. classes-1 < 255, so label maps fit CV_8U.
constexpr int64_t kIgnoreIndex = 255;
/// Class ids lie below this: a mapping has at most kMaxClasses - 1 = 254 classes.
constexpr int64_t kMaxClasses = 255;

/// An 8-bit colour, {R, G, B}.
using Rgb = std::array<uint8_t, 3>;

/// Maps raw mask values to class ids 0..K-1 in the listed order, and back.
///   values({0, 255})  binary masks saved as 0/255 -> classes 0 and 1
///   identity(K)       index masks whose value is the class id (0..K-1)
///   colors({...})     RGB colour -> class (e.g. voc(): Pascal VOC's palette)
/// A raw value (or colour) equal to the ignore value becomes kIgnoreIndex. When the ignore value
/// is itself listed as a class (e.g. values({0, 255}) with the default ignore 255), the class wins
/// and nothing is ignored. Any other unlisted value is an error naming the file and the values.
class MaskMapping {
 public:
  /// Whether the keys are raw gray values or 0xRRGGBB colours.
  enum class Kind { Values, Colors };

  /// identity(2): masks already store 0/1 (255 ignored).
  MaskMapping();
  /// Gray values 0..65535 in class order; ignore_value outside 0..65535 (e.g. -1) means none.
  /// Throws std::invalid_argument for a value out of range, no values, more than 254 or duplicates.
  static MaskMapping values(std::vector<int> raw_values, int ignore_value = 255);
  /// Values 0..classes-1. Throws std::invalid_argument unless 1 <= classes <= 254.
  static MaskMapping identity(int64_t classes, int ignore_value = 255);
  /// Colours in class order, with an optional ignore colour. Throws std::invalid_argument for no
  /// colours, more than 254 or duplicates.
  static MaskMapping colors(std::vector<Rgb> colors, c10::optional<Rgb> ignore_color = c10::nullopt);
  /// The first `classes` colours of Pascal VOC's palette, ignore colour (224, 224, 192).
  /// Throws std::invalid_argument unless 1 <= classes <= 254.
  static MaskMapping voc(int64_t classes = 21);
  /// "0,255" (values), "identity:3", "voc", "voc:21", "#000000,#ff0000,..." (colours, no ignore
  /// colour). Throws std::invalid_argument for a malformed spec and what the factories reject.
  static MaskMapping parse(const std::string& spec, int ignore_value = 255);
  /// From the distinct keys found in masks (see mask_key_counts): every key becomes a class in
  /// sorted order, except the ignore value of gray masks, unless that would leave fewer than two
  /// classes (0/255 masks scan as two classes). No keys, or more than min(max_classes, 254), is a
  /// DataError that names `where` and suggests the likely cause (JPEG artefacts, anti-aliased edges).
  static MaskMapping from_scan(const std::map<uint32_t, int64_t>& key_counts, bool colour, int64_t max_classes,
                               int ignore_value, const std::string& where);

  /// Values or Colors.
  Kind kind() const { return kind_; }
  /// K, the number of classes.
  int64_t num_classes() const { return static_cast<int64_t>(keys_.size()); }
  /// Raw value (Values) or 0xRRGGBB (Colors) of each class.
  const std::vector<uint32_t>& keys() const { return keys_; }
  /// Whether some raw value (or colour) maps to kIgnoreIndex.
  bool has_ignore() const { return has_ignore_; }
  /// That raw value (or 0xRRGGBB); 0 when has_ignore() is false.
  uint32_t ignore_key() const { return ignore_key_; }
  /// For messages, e.g. "values 0,255 -> classes 0..1 (ignore 128)".
  std::string describe() const;
  /// A key as messages write it: the gray value ("255") or the colour ("#ff0000").
  std::string key_text(uint32_t key) const;

  /// {"kind": "values"|"colors", "values"|"colors": [...], "ignore": key or null}; stored with
  /// checkpoints and exports.
  std::string to_json() const;
  /// Reads to_json()'s format. Throws std::invalid_argument for invalid JSON, an unknown kind, or
  /// what values()/colors() reject.
  static MaskMapping from_json(const std::string& json);

  /// Raw mask (gray 8/16-bit, or RGB(A) for colours; a gray mask under a colour table stands for
  /// (g, g, g)) -> CV_8U labels with kIgnoreIndex for ignored pixels, same size. Throws DataError
  /// naming `name` for an empty mask, a colour mask under a Values mapping, a 16-bit colour mask,
  /// or values outside the mapping (listing them with their pixel counts).
  cv::Mat map(const cv::Mat& raw, const std::string& name) const;
  /// Labels (CV_8U or CV_32S, kIgnoreIndex for ignored) -> raw values: CV_8U/CV_16U gray, or RGB.
  /// Ignored pixels get the ignore value (or 0 / black if there is none). Throws
  /// std::invalid_argument for another type or a label that is no class.
  cv::Mat unmap(const cv::Mat& labels) const;
  /// Why a mask with these key counts (see mask_key_counts) does not fit the mapping, or "".
  std::string check_counts(const std::map<uint32_t, int64_t>& key_counts, bool colour) const;

  /// Same kind, keys and ignore key.
  bool operator==(const MaskMapping& other) const;

 private:
  Kind kind_ = Kind::Values;
  std::vector<uint32_t> keys_;
  bool has_ignore_ = false;
  uint32_t ignore_key_ = 0;
};

/// Distinct keys of a raw mask with their pixel counts: gray values, or 0xRRGGBB for colour
/// masks (colour = 3/4 channels that are not all equal). `colour` (may be null) reports which.
/// Throws std::invalid_argument for a colour mask that is not 8-bit.
std::map<uint32_t, int64_t> mask_key_counts(const cv::Mat& raw, bool* colour);

/// Reads a mask file as it is stored (gray or RGB, 8/16-bit; alpha dropped); errors are DataErrors.
cv::Mat read_raw_mask(const std::string& path);
/// CV_8U [H, W] class ids with kIgnoreIndex for ignored pixels. Throws DataError as
/// read_raw_mask() and MaskMapping::map() do.
cv::Mat read_mask(const std::string& path, const MaskMapping& mapping);
/// Writes labels in the mapping's raw values (so predictions look like the training masks).
/// Throws as MaskMapping::unmap() and write_image() do.
void write_mask(const std::string& path, const cv::Mat& labels, const MaskMapping& mapping);

/// CV_8U labels [H, W] -> int64 tensor [H, W]. Throws std::invalid_argument for another type.
torch::Tensor labels_to_tensor(const cv::Mat& labels);
/// Integer tensor [H, W] (any device) -> CV_8U matrix. Throws std::invalid_argument unless the
/// tensor is 2-D with values in 0..255.
cv::Mat tensor_to_labels(const torch::Tensor& labels);

}  // namespace skipzoo::data
