#pragma once
// Fixed-size training patches from images of any size, nnU-Net style: uniform crops plus
// foreground oversampling, padding (never resizing) images smaller than the patch.
#include <opencv2/core.hpp>

#include <cstdint>
#include <vector>

#include "skipzoo/data/augment.h"
#include "skipzoo/data/random.h"

namespace skipzoo::data {

enum class PadMode {
  Constant,  // the image with pad_value, the mask with kIgnoreIndex
  Reflect,   // the image mirrored (OpenCV's BORDER_REFLECT_101), the mask still kIgnoreIndex
};

struct PatchOptions {
  int64_t size = 256;                     // square patches, size x size
  // Share of each batch forced to contain foreground: the last floor(B*f) samples, plus the one
  // before them with probability frac(B*f), so the share is exactly f on average for any B.
  double foreground_fraction = 1.0 / 3.0;
  int64_t patches_per_image = 1;          // per epoch
  int64_t background_class = 0;           // not foreground when oversampling; -1: none
  int64_t max_locations = 4096;           // per class and image, kept for oversampling
  PadMode pad = PadMode::Constant;
  double pad_value = 0;                   // raw pixel value used by PadMode::Constant
};

// Where each foreground class lies in one label map: for every present class (ascending), up
// to max_per_class of its pixels, spread evenly in raster order. Computed once per image.
struct ClassLocations {
  std::vector<int64_t> classes;
  std::vector<std::vector<cv::Point>> points;  // points[i] belong to classes[i]
  bool empty() const { return classes.empty(); }
};
ClassLocations find_class_locations(const cv::Mat& labels, int64_t background_class, int64_t max_per_class);

// Whether sample `slot` of a batch of `batch_size` is forced to contain foreground.
bool is_forced_foreground(int64_t slot, int64_t batch_size, double fraction, Rng& rng);

// The window (origin and extent) a patch of `extent` covers in image coordinates. The image is
// conceptually padded to at least extent x extent, centred, and the window lies inside that
// padded image. With `centre`, the window is centred on that pixel and clamped, so the pixel
// always lies inside it; without, the origin is uniform.
cv::Rect patch_window(cv::Size image, int extent, const cv::Point* centre, Rng& rng);
// The bounds of that padded image, in image coordinates.
cv::Rect padded_bounds(cv::Size image, int extent);
// Copies `window` out of `src`, filling the parts outside it with `border` (cv::BORDER_*).
cv::Mat extract_window(const cv::Mat& src, cv::Rect window, int border, const cv::Scalar& value);

struct PatchSample {
  cv::Mat image;     // CV_32F, size x size, channels as the source, [0, 1] units, augmented
  cv::Mat labels;    // CV_8U, size x size, kIgnoreIndex outside the image (empty without labels)
  cv::Rect window;   // source window before rotation/flips
  bool forced = false;        // centred on a foreground pixel
  int64_t forced_class = -1;  // that pixel's class
  cv::Point centre{-1, -1};   // that pixel
};

// One training patch. `labels` may be empty (classification). With force_foreground and a
// non-empty `locations`, a present class is chosen uniformly, then one of its points.
PatchSample sample_patch(const cv::Mat& image, const cv::Mat& labels, const ClassLocations& locations,
                         bool force_foreground, const PatchOptions& patch, const AugmentOptions& augment, Rng& rng);

}  // namespace skipzoo::data
