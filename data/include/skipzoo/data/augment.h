#pragma once
// Augmentations for training samples. Spatial ones act on image and mask together (the mask
// with nearest-neighbour interpolation); intensity ones on the image only, on the [0, 1] scale.
// Defaults follow nnU-Net's 2D pipeline, with small rotations instead of full turns.
#include <opencv2/core.hpp>

#include <string>

#include "skipzoo/data/random.h"

namespace skipzoo::data {

struct AugmentOptions {
  bool enabled = true;  // false: no augmentation at all
  // Mirroring (each axis on its own) and quarter turns (1, 2 or 3, chosen uniformly).
  double hflip = 0.5, vflip = 0.5, rot90 = 0.5;
  // Zoom: >1 magnifies (the patch covers fewer source pixels).
  double scale_prob = 0.2, scale_min = 0.7, scale_max = 1.4;
  double rotate_prob = 0.2, rotate_degrees = 15.0;  // angle uniform in +-rotate_degrees
  double brightness_prob = 0.15, brightness = 0.25;  // x * U(1-b, 1+b)
  double contrast_prob = 0.15, contrast = 0.25;      // (x - mean) * U(1-c, 1+c) + mean, per channel
  double gamma_prob = 0.3, gamma_min = 0.7, gamma_max = 1.5;  // on the patch's min..max range
  double noise_prob = 0.1, noise_std = 0.1;          // Gaussian, sigma ~ U(0, noise_std)
  double blur_prob = 0.2, blur_sigma_min = 0.5, blur_sigma_max = 1.0;

  static AugmentOptions segmentation() { return {}; }
  static AugmentOptions classification();  // horizontal flips, brightness/contrast; nothing else
  static AugmentOptions off();
  static AugmentOptions full();            // everything with probability 1 (benchmarks, tests)
  void validate() const;                   // std::invalid_argument for impossible values
  std::string to_json() const;
  // Keys override `base` (default: segmentation()); unknown keys are errors.
  static AugmentOptions from_json(const std::string& json, const AugmentOptions& base);
  static AugmentOptions from_json(const std::string& json);
};

// The spatial choices for one sample, drawn once and applied to image and mask alike.
struct SpatialDraw {
  bool hflip = false, vflip = false;
  int rot90 = 0;        // quarter turns counter-clockwise
  double scale = 1.0;   // zoom
  double angle = 0.0;   // degrees
  bool warps() const { return scale != 1.0 || angle != 0.0; }
};
SpatialDraw draw_spatial(const AugmentOptions& options, Rng& rng);
// Flips and quarter turns (exact, any type); a square patch keeps its size.
void apply_orientation(cv::Mat& m, const SpatialDraw& draw);
// Noise, blur, brightness, contrast, gamma in that order, on a CV_32F image in [0, 1] units.
void apply_intensity(cv::Mat& image, const AugmentOptions& options, Rng& rng);

}  // namespace skipzoo::data
