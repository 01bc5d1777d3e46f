#pragma once
// Image files <-> cv::Mat <-> normalised float tensors.
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace skipzoo::data {

enum class Channels {
  AsStored,  // gray stays gray (1), colour is RGB (3), RGBA only with keep_alpha (4)
  Gray,      // force 1 channel (colour converted to luma)
  RGB,       // force 3 channels (gray replicated)
};

struct ImageReadOptions {
  Channels channels = Channels::AsStored;
  bool keep_alpha = false;  // with Channels::AsStored: RGBA files give 4 channels
};

// The file's bytes; DataError if it is missing, unreadable or empty.
std::vector<uint8_t> read_file(const std::string& path);

// Decodes PNG, JPEG, TIFF or BMP bytes to a CV_8U or CV_16U matrix in RGB(A) order (never BGR).
// Corrupt, truncated, empty or unsupported data is a DataError naming `name` and the reason.
// EXIF orientation is not applied, so an image and its mask always stay aligned.
cv::Mat decode_image(const std::vector<uint8_t>& bytes, const std::string& name,
                     const ImageReadOptions& options = {});
cv::Mat read_image(const std::string& path, const ImageReadOptions& options = {});

// Writes a gray, RGB or RGBA matrix (8- or 16-bit); the format follows the extension.
void write_image(const std::string& path, const cv::Mat& image);

// Extensions read_image understands (lower case, with the dot): .png .jpg .jpeg .tif .tiff .bmp
bool has_image_extension(const std::string& path);

// Converts a gray/RGB/RGBA matrix to `channels` (1, 3 or 4) channels.
cv::Mat convert_channels(const cv::Mat& image, int channels);

// Per-channel normalisation applied after scaling to [0, 1] (8-bit / 255, 16-bit / 65535):
// x' = (x - mean[c]) / std[c]. Empty vectors mean 0 and 1; one value applies to every channel.
struct Normalization {
  std::vector<float> mean, std;

  static Normalization unit() { return {}; }                          // [0, 1]
  static Normalization symmetric() { return {{0.5f}, {0.5f}}; }       // [-1, 1]
  static Normalization imagenet() {                                    // torchvision's ImageNet stats
    return {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
  }
  float mean_of(int64_t channel) const;
  float std_of(int64_t channel) const;
  void check(int64_t channels) const;  // std::invalid_argument if sizes or std values don't fit
  std::string to_json() const;          // {"mean": [...], "std": [...]}, for checkpoint metadata
  static Normalization from_json(const std::string& json);
};

// float32 [C, H, W] from a CV_8U, CV_16U or CV_32F (already in [0, 1]) matrix with 1-4 channels.
// ROIs (non-contiguous rows) are fine: rows are read one by one; the result owns its memory.
torch::Tensor image_to_tensor(const cv::Mat& image, const Normalization& norm = {});
// The same, written into `out`: a contiguous float32 [C, H, W] tensor (e.g. a slice of a batch).
void image_to_tensor(const cv::Mat& image, const Normalization& norm, torch::Tensor out);

// Scale factor from the matrix's depth to [0, 1]: 1/255, 1/65535 or 1 for float.
double unit_scale(int depth);

}  // namespace skipzoo::data
