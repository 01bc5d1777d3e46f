#pragma once
/// @file
/// Image files <-> cv::Mat <-> normalised float tensors. Matrices are in RGB(A) order, never
/// OpenCV's BGR; tensors are float32 [C, H, W].
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace skipzoo::data {

/// The channels an image is read with.
enum class Channels {
  AsStored,  ///< gray stays gray (1), colour is RGB (3), RGBA only with keep_alpha (4)
  Gray,      ///< force 1 channel (colour converted to luma)
  RGB,       ///< force 3 channels (gray replicated)
};

/// Options of read_image() and decode_image().
/// The largest image read_image() and decode_image() decode, in pixels (width x height), checked
/// against the file's header before anything is allocated: $SKIPZOO_MAX_IMAGE_PIXELS if set (a
/// positive integer), else 2^28 (16384 x 16384). Throws DataError for an unusable variable.
int64_t default_max_image_pixels();

/// Options of decode_image() and read_image().
struct ImageReadOptions {
  Channels channels = Channels::AsStored;  ///< channel conversion after decoding
  bool keep_alpha = false;  ///< with Channels::AsStored: RGBA files give 4 channels (else RGB)
  /// Images whose header declares more pixels are refused (DataError) before decoding.
  int64_t max_pixels = default_max_image_pixels();
};

/// The file's bytes. Throws DataError if it is missing, unreadable (e.g. a folder) or empty.
std::vector<uint8_t> read_file(const std::string& path);

/// Decodes PNG, JPEG, TIFF or BMP bytes to a CV_8U or CV_16U matrix in RGB(A) order (never BGR),
/// with the channels `options` asks for. Corrupt, truncated, empty or unsupported data (another
/// format, not 8/16-bit integers, not 1, 3 or 4 channels) is a DataError naming `name` and the
/// reason. EXIF orientation is not applied, so an image and its mask always stay aligned.
cv::Mat decode_image(const std::vector<uint8_t>& bytes, const std::string& name,
                     const ImageReadOptions& options = {});
/// read_file() then decode_image(); every error is a DataError naming `path`.
cv::Mat read_image(const std::string& path, const ImageReadOptions& options = {});

/// Writes a gray, RGB or RGBA matrix (8- or 16-bit); the format follows the extension. The
/// folder must exist. Throws DataError for an empty image, another channel count, an unknown
/// extension or an unwritable path.
void write_image(const std::string& path, const cv::Mat& image);

/// Whether the extension is one read_image understands (any case): .png .jpg .jpeg .tif .tiff .bmp
bool has_image_extension(const std::string& path);

/// Converts a gray/RGB/RGBA matrix to `channels` (1: luma, 3 or 4) channels; returns `image`
/// itself when it has them already. Throws std::invalid_argument for another `channels`.
cv::Mat convert_channels(const cv::Mat& image, int channels);

/// Per-channel normalisation applied after scaling to [0, 1] (8-bit / 255, 16-bit / 65535):
/// x' = (x - mean[c]) / std[c]. Empty vectors mean 0 and 1; one value applies to every channel.
struct Normalization {
  std::vector<float> mean, std;  ///< [0, 1] units: none, one for all channels, or one per channel

  /// No change: values stay in [0, 1].
  static Normalization unit() { return {}; }
  /// mean 0.5, std 0.5: values in [-1, 1].
  static Normalization symmetric() { return {{0.5f}, {0.5f}}; }
  /// torchvision's ImageNet statistics (RGB), for its pretrained weights.
  static Normalization imagenet() {
    return {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
  }
  /// The mean of `channel`: 0 if none, the single value if one, else mean[channel]
  /// (std::out_of_range past the end).
  float mean_of(int64_t channel) const;
  /// The std of `channel`: 1 if none, the single value if one, else std[channel]
  /// (std::out_of_range past the end).
  float std_of(int64_t channel) const;
  /// Throws std::invalid_argument unless mean and std each have 0, 1 or `channels` values and
  /// every std is > 0.
  void check(int64_t channels) const;
  /// {"mean": [...], "std": [...]}, for checkpoint and export metadata.
  std::string to_json() const;
  /// Reads to_json()'s format; missing keys mean empty. Throws std::invalid_argument for invalid
  /// JSON or values that are not lists of numbers.
  static Normalization from_json(const std::string& json);
};

/// float32 [C, H, W] from a CV_8U, CV_16U or CV_32F (already in [0, 1]) matrix with 1-4 channels,
/// scaled to [0, 1] and normalised. ROIs (non-contiguous rows) are fine: rows are read one by
/// one; the result owns its memory. Throws std::invalid_argument for an empty image, more than 4
/// channels, another depth, or a `norm` that does not fit (see Normalization::check).
torch::Tensor image_to_tensor(const cv::Mat& image, const Normalization& norm = {});
/// The same, written into `out`: a contiguous float32 [C, H, W] tensor (e.g. a slice of a batch).
/// Throws std::invalid_argument as above, or when `out` has another type, shape or layout.
void image_to_tensor(const cv::Mat& image, const Normalization& norm, torch::Tensor out);

/// Scale factor from the matrix's depth to [0, 1]: 1/255 (CV_8U), 1/65535 (CV_16U) or 1 (CV_32F).
/// Throws std::invalid_argument for other depths.
double unit_scale(int depth);

}  // namespace skipzoo::data
