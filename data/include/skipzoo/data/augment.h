#pragma once
/// @file
/// Augmentations for training samples. Spatial ones act on image and mask together (the mask
/// with nearest-neighbour interpolation); intensity ones on the image only, on the [0, 1] scale.
/// Defaults follow nnU-Net's 2D pipeline (Isensee et al. 2021, "nnU-Net: a self-configuring
/// method for deep learning-based biomedical image segmentation", Nature Methods 18), with small
/// rotations instead of full turns. All randomness comes from the sample's Rng.
#include <opencv2/core.hpp>

#include <string>

#include "skipzoo/data/random.h"

namespace skipzoo::data {

/// Per-sample probabilities (in [0, 1]) and ranges of every augmentation. The JSON keys are the
/// field names. The defaults are segmentation()'s.
struct AugmentOptions {
  bool enabled = true;  ///< false: no augmentation at all
  /// Probabilities of a horizontal flip, a vertical flip (each axis on its own) and of 1, 2 or 3
  /// quarter turns (chosen uniformly).
  double hflip = 0.5, vflip = 0.5, rot90 = 0.5;
  /// Zoom: probability and factor range, factor uniform in [scale_min, scale_max]; > 1 magnifies
  /// (the patch covers fewer source pixels).
  double scale_prob = 0.2, scale_min = 0.7, scale_max = 1.4;
  double rotate_prob = 0.2, rotate_degrees = 15.0;  ///< rotation, angle uniform in +-rotate_degrees (degrees)
  double brightness_prob = 0.15, brightness = 0.25;  ///< x * U(1-b, 1+b); b < 1
  double contrast_prob = 0.15, contrast = 0.25;      ///< (x - mean) * U(1-c, 1+c) + mean, per channel; c < 1
  /// Gamma x^g on the patch's min..max range (rescaled to [0, 1] and back); half the time
  /// g ~ U(gamma_min, 1) when gamma_min < 1, else g ~ U(1, gamma_max), as nnU-Net does.
  double gamma_prob = 0.3, gamma_min = 0.7, gamma_max = 1.5;
  double noise_prob = 0.1, noise_std = 0.1;          ///< additive Gaussian noise, sigma ~ U(0, noise_std), [0, 1] units
  double blur_prob = 0.2, blur_sigma_min = 0.5, blur_sigma_max = 1.0;  ///< Gaussian blur, sigma ~ U(min, max) pixels

  /// The defaults: nnU-Net-like augmentation of segmentation patches.
  static AugmentOptions segmentation() { return {}; }
  /// Horizontal flips (0.5) and brightness/contrast (probability 0.5, range 0.2); nothing else.
  static AugmentOptions classification();
  /// Flips and quarter turns only: exact, no interpolation.
  static AugmentOptions light();
  /// enabled = false: nothing is drawn or applied.
  static AugmentOptions off();
  /// Everything with probability 1 (benchmarks, tests).
  static AugmentOptions full();
  /// Throws std::invalid_argument for impossible values: a negative value, a probability above 1,
  /// not 0 < scale_min <= scale_max or 0 < gamma_min <= gamma_max, blur_sigma_min >
  /// blur_sigma_max, brightness or contrast >= 1.
  void validate() const;
  /// Every field as one JSON object, "enabled" included.
  std::string to_json() const;
  /// Keys override `base` (default: segmentation()); the result is validated. Throws
  /// std::invalid_argument for invalid JSON, a non-object, an unknown key, a non-number value or
  /// a value validate() rejects (a non-boolean "enabled" throws nlohmann::json::type_error).
  static AugmentOptions from_json(const std::string& json, const AugmentOptions& base);
  /// from_json(json, segmentation()).
  static AugmentOptions from_json(const std::string& json);
};

/// The spatial choices for one sample, drawn once and applied to image and mask alike.
struct SpatialDraw {
  bool hflip = false, vflip = false;  ///< mirror left-right, top-bottom
  int rot90 = 0;        ///< quarter turns counter-clockwise (0..3)
  double scale = 1.0;   ///< zoom factor; > 1 magnifies
  double angle = 0.0;   ///< rotation, degrees
  /// Whether the draw needs resampling (zoom or rotation) rather than exact flips and turns.
  bool warps() const { return scale != 1.0 || angle != 0.0; }
};
/// Draws the spatial choices of one sample from `rng` (the identity when !options.enabled).
SpatialDraw draw_spatial(const AugmentOptions& options, Rng& rng);
/// Applies the flips, then the quarter turns, to `m` in place: exact, any type; an empty `m` is
/// left alone. A square patch keeps its size (odd turns swap H and W otherwise).
void apply_orientation(cv::Mat& m, const SpatialDraw& draw);
/// Noise, blur, brightness, contrast, gamma in that order, in place, on a CV_32F image in [0, 1]
/// units with any number of channels. Throws std::invalid_argument for another depth (when enabled).
void apply_intensity(cv::Mat& image, const AugmentOptions& options, Rng& rng);

}  // namespace skipzoo::data
