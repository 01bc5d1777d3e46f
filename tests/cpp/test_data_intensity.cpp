// The intensity augmentations against their definitions: brightness is one factor, the noise is
// Gaussian and seeded, gamma is one power curve over the image's range.
#include <gtest/gtest.h>
#include <skipzoo/data.h>

#include <cmath>

namespace data = skipzoo::data;

namespace {
// Augmentation on, every draw at probability 0: tests switch on the one they look at.
data::AugmentOptions nothing() {
  auto a = data::AugmentOptions::full();
  a.hflip = a.vflip = a.rot90 = a.scale_prob = a.rotate_prob = 0;
  a.brightness_prob = a.contrast_prob = a.gamma_prob = a.noise_prob = a.blur_prob = 0;
  return a;
}
double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }
}  // namespace

TEST(DataIntensity, BrightnessIsOneFactorForEveryPixel) {
  auto options = nothing();
  options.brightness_prob = 1;
  cv::Mat f(40, 50, CV_32FC3);
  cv::randu(f, 0, 1);
  cv::Mat bright = f.clone();
  data::Rng rng(8);
  data::apply_intensity(bright, options, rng);
  const double factor = cv::sum(bright)[0] / cv::sum(f)[0];
  EXPECT_GE(factor, 0.75);
  EXPECT_LE(factor, 1.25);
  EXPECT_LT(cv::norm(bright, f * factor, cv::NORM_INF), 1e-5);
}

TEST(DataIntensity, NoiseIsGaussianAndIndependentAcrossPixels) {
  auto options = nothing();
  options.noise_prob = 1;
  options.noise_std = 0.1;
  // A region of a larger image (rows not contiguous) with an odd number of values per row.
  cv::Mat whole(300, 301, CV_32FC3, cv::Scalar::all(0.5));
  cv::Mat roi = whole(cv::Rect(1, 2, 299, 297));
  data::Rng rng(3);
  data::apply_intensity(roi, options, rng);
  EXPECT_EQ(cv::countNonZero(whole.row(0).reshape(1) != 0.5f), 0);  // outside the region: untouched
  EXPECT_EQ(cv::countNonZero(whole.col(0).reshape(1) != 0.5f), 0);

  std::vector<double> v;
  for (int y = 0; y < roi.rows; ++y)
    for (int x = 0; x < roi.cols * 3; ++x) v.push_back(roi.ptr<float>(y)[x] - 0.5);
  const double n = static_cast<double>(v.size());
  double mean = 0, m2 = 0, m4 = 0, lag = 0;
  for (double x : v) mean += x / n;
  for (size_t i = 0; i < v.size(); ++i) {
    const double d = v[i] - mean;
    m2 += d * d / n, m4 += d * d * d * d / n;
    if (i + 1 < v.size()) lag += d * (v[i + 1] - mean) / n;
  }
  const double sd = std::sqrt(m2);
  ASSERT_GT(sd, 0.0);
  ASSERT_LE(sd, 0.1 * 1.01);  // sigma is drawn from [0, noise_std]
  EXPECT_LT(std::fabs(mean) / sd, 0.01);
  EXPECT_NEAR(m4 / (m2 * m2), 3.0, 0.05);  // kurtosis of a normal distribution
  EXPECT_LT(std::fabs(lag / m2), 0.01);    // neighbours (a Box-Muller pair) uncorrelated
  cv::Mat again = whole.clone();  // the same seed gives the same noise
  cv::Mat again_roi = again(cv::Rect(1, 2, 299, 297));
  again_roi.setTo(cv::Scalar::all(0.5));
  data::Rng same(3);
  data::apply_intensity(again_roi, options, same);
  EXPECT_EQ(cv::norm(again, whole, cv::NORM_INF), 0);
  for (double z : {-3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0}) {
    const double below = static_cast<double>(std::count_if(v.begin(), v.end(), [&](double x) { return x < z * sd; })) / n;
    EXPECT_NEAR(below, normal_cdf(z), 0.005) << "CDF at " << z << " sd";  // ~4.5 standard errors
  }
}

TEST(DataIntensity, GammaIsOnePowerCurveOverTheImagesRange) {
  auto options = nothing();
  options.gamma_prob = 1;
  cv::Mat image(61, 47, CV_32FC3);
  cv::randu(image, -0.3, 1.7);
  double lo, hi;
  cv::minMaxLoc(image.reshape(1), &lo, &hi);
  int curved = 0;
  for (uint64_t seed = 0; seed < 6; ++seed) {
    cv::Mat out = image.clone();
    data::Rng rng(seed);
    data::apply_intensity(out, options, rng);
    // The exponent, read off the pixel nearest the middle of the range.
    const auto unit = [&](float x) { return (x - lo) / (hi - lo); };
    int best = 0;
    const float* in = image.ptr<float>();
    for (int i = 0; i < static_cast<int>(image.total() * 3); ++i)
      if (std::fabs(unit(in[i]) - 0.5) < std::fabs(unit(in[best]) - 0.5)) best = i;
    const double gamma = std::log(unit(out.ptr<float>()[best])) / std::log(unit(in[best]));
    EXPECT_GE(gamma, 0.7 - 1e-3);
    EXPECT_LE(gamma, 1.5 + 1e-3);
    curved += std::fabs(gamma - 1) > 0.05;
    double worst = 0;
    for (int i = 0; i < static_cast<int>(image.total() * 3); ++i)
      worst = std::max(worst, std::fabs(out.ptr<float>()[i] - (lo + (hi - lo) * std::pow(unit(in[i]), gamma))));
    EXPECT_LT(worst, 2e-5) << "gamma " << gamma;  // this also keeps the range: lo and hi map to themselves
  }
  EXPECT_GE(curved, 3);
}
