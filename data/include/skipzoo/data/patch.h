#pragma once
/// @file
/// Fixed-size training patches from images of any size, nnU-Net style (Isensee et al. 2021,
/// "nnU-Net: a self-configuring method for deep learning-based biomedical image segmentation",
/// Nature Methods 18): uniform crops plus foreground oversampling, padding (never resizing)
/// images smaller than the patch. Prince, *Understanding Deep Learning* (MIT Press 2023),
/// problem 11.9 asks why U-Nets are trained on patches rather than whole images.
#include <opencv2/core.hpp>

#include <cstdint>
#include <vector>

#include "skipzoo/data/augment.h"
#include "skipzoo/data/random.h"

namespace skipzoo::data {

/// How the parts of a patch outside the image are filled.
enum class PadMode {
  Constant,  ///< the image with pad_value, the mask with kIgnoreIndex
  Reflect,   ///< the image mirrored (OpenCV's BORDER_REFLECT_101), the mask still kIgnoreIndex
};

/// Options of the segmentation patches.
struct PatchOptions {
  int64_t size = 256;                     ///< square patches, size x size pixels
  /// Share of each batch forced to contain foreground (nnU-Net's oversampling, 1/3): the last
  /// floor(B*f) samples, plus the one before them with probability frac(B*f), so the share is
  /// exactly f on average for any B.
  double foreground_fraction = 1.0 / 3.0;
  int64_t patches_per_image = 1;          ///< patches of each image per epoch
  int64_t background_class = 0;           ///< not foreground when oversampling; -1: none
  int64_t max_locations = 4096;           ///< pixels kept per class and image for oversampling
  PadMode pad = PadMode::Constant;        ///< how the image is padded
  double pad_value = 0;                   ///< raw pixel value used by PadMode::Constant
};

/// Where each foreground class lies in one label map: for every present class (ascending), up
/// to max_per_class of its pixels, spread evenly in raster order. Computed once per image.
struct ClassLocations {
  std::vector<int64_t> classes;                ///< present classes, ascending (no background, no kIgnoreIndex)
  std::vector<std::vector<cv::Point>> points;  ///< points[i] belong to classes[i]
  /// No foreground class present.
  bool empty() const { return classes.empty(); }
};
/// The ClassLocations of a CV_8U label map, skipping background_class and kIgnoreIndex. Throws
/// std::invalid_argument for another type.
ClassLocations find_class_locations(const cv::Mat& labels, int64_t background_class, int64_t max_per_class);

/// Whether sample `slot` of a batch of `batch_size` is forced to contain foreground (see
/// PatchOptions::foreground_fraction). Always draws one number from `rng`, whatever the slot.
bool is_forced_foreground(int64_t slot, int64_t batch_size, double fraction, Rng& rng);

/// The window (origin and extent) a patch of `extent` covers in image coordinates. The image is
/// conceptually padded to at least extent x extent, centred, and the window lies inside that
/// padded image. With `centre`, the window is centred on that pixel and clamped, so the pixel
/// always lies inside it; without, the origin is uniform.
cv::Rect patch_window(cv::Size image, int extent, const cv::Point* centre, Rng& rng);
/// The bounds of that padded image, in image coordinates.
cv::Rect padded_bounds(cv::Size image, int extent);
/// Copies `window` out of `src`, filling the parts outside it with `border` (cv::BORDER_*) and,
/// for BORDER_CONSTANT, `value`.
cv::Mat extract_window(const cv::Mat& src, cv::Rect window, int border, const cv::Scalar& value);

/// One training patch as sample_patch() makes it.
struct PatchSample {
  cv::Mat image;     ///< CV_32F, size x size, channels as the source, [0, 1] units, augmented
  cv::Mat labels;    ///< CV_8U, size x size, kIgnoreIndex outside the image (empty without labels)
  cv::Rect window;   ///< source window before rotation/flips
  bool forced = false;        ///< centred on a foreground pixel
  int64_t forced_class = -1;  ///< that pixel's class
  cv::Point centre{-1, -1};   ///< that pixel
};

/// One training patch: crop and padding (with zoom and rotation, one resampling: bilinear for the
/// image, nearest for the labels), then flips and quarter turns, then intensity augmentation.
/// `labels` may be empty (classification). With force_foreground and a non-empty `locations`, a
/// present class is chosen uniformly, then one of its points. Throws std::invalid_argument for
/// an empty image or labels that are not CV_8U of the image's size.
PatchSample sample_patch(const cv::Mat& image, const cv::Mat& labels, const ClassLocations& locations,
                         bool force_foreground, const PatchOptions& patch, const AugmentOptions& augment, Rng& rng);

}  // namespace skipzoo::data
