// `make-shapes`: a synthetic segmentation set that a small U-Net learns in minutes on a CPU.
// Class identity is carried twice, by shape type and by hue, so it is clearly learnable,
// while textured, noisy backgrounds and occlusions keep it from being trivial.
#include <opencv2/imgproc.hpp>

#include <cmath>

#include "generated_set.h"
#include "skipzoo/data/tools.h"

namespace skipzoo::data {

std::vector<std::string> shape_class_names(int64_t classes) {
  static const char* kinds[] = {"ellipse", "rectangle", "triangle"};
  std::vector<std::string> names{"background"};
  for (int64_t c = 1; c <= classes; ++c) {
    std::string name = kinds[(c - 1) % 3];
    if (c > 3) name += "_" + std::to_string((c - 1) / 3 + 1);
    names.push_back(name);
  }
  return names;
}

namespace {
cv::Vec3b hsv_to_rgb(double hue, double sat, double val) {
  cv::Mat hsv(1, 1, CV_8UC3, cv::Scalar(hue, sat, val)), rgb;
  cv::cvtColor(hsv, rgb, cv::COLOR_HSV2RGB);
  return rgb.at<cv::Vec3b>(0, 0);
}

// One filled shape of class c drawn into `shape_mask` (255 inside).
void draw_shape(cv::Mat& shape_mask, int64_t c, cv::Point2d centre, double radius, double angle) {
  const int kind = static_cast<int>((c - 1) % 3);
  if (kind == 0) {
    cv::ellipse(shape_mask, cv::RotatedRect(centre, cv::Size2d(2 * radius, 1.3 * radius), angle), cv::Scalar(255),
                cv::FILLED, cv::LINE_8);
    return;
  }
  std::vector<cv::Point> poly;
  if (kind == 1) {
    cv::Point2f corners[4];
    cv::RotatedRect(centre, cv::Size2d(1.8 * radius, 1.2 * radius), angle).points(corners);
    for (const auto& p : corners) poly.emplace_back(cvRound(p.x), cvRound(p.y));
  } else {
    for (int k = 0; k < 3; ++k) {
      const double a = (angle + 120.0 * k) * CV_PI / 180.0;
      poly.emplace_back(cvRound(centre.x + radius * std::cos(a)), cvRound(centre.y + radius * std::sin(a)));
    }
  }
  cv::fillPoly(shape_mask, std::vector<std::vector<cv::Point>>{poly}, cv::Scalar(255), cv::LINE_8);
}

std::pair<cv::Mat, cv::Mat> make_scene(const ShapesOptions& o, Rng& rng) {
  const cv::Size size(static_cast<int>(o.min_size + rng.below(o.max_size - o.min_size + 1)),
                      static_cast<int>(o.min_size + rng.below(o.max_size - o.min_size + 1)));
  // Background: a low-saturation base colour modulated by texture.
  const cv::Vec3b base = hsv_to_rgb(rng.uniform(0, 180), rng.uniform(0, 50), rng.uniform(90, 180));
  const cv::Mat tex = texture(size, rng);
  cv::Mat image(size, CV_32FC3);
  for (int y = 0; y < size.height; ++y)
    for (int x = 0; x < size.width; ++x) {
      const float t = 0.6f + 0.8f * tex.at<float>(y, x);
      for (int ch = 0; ch < 3; ++ch) image.at<cv::Vec3f>(y, x)[ch] = base[ch] * t;
    }
  cv::Mat labels = cv::Mat::zeros(size, CV_8U);

  const double area = static_cast<double>(size.area());
  const int64_t shapes = 1 + rng.below(2 + static_cast<int64_t>(area / 40000.0));
  const double max_radius = std::max(10.0, std::min(size.width, size.height) / 4.0);
  for (int64_t s = 0; s < shapes; ++s) {
    const int64_t c = 1 + rng.below(o.classes);
    const double radius = rng.uniform(10.0, max_radius);
    const cv::Point2d centre(rng.uniform(0, size.width), rng.uniform(0, size.height));
    cv::Mat inside = cv::Mat::zeros(size, CV_8U);
    draw_shape(inside, c, centre, radius, rng.uniform(0, 360));
    // The class's hue, spread around the colour wheel, with some jitter; saturated and bright.
    const double hue = std::fmod(180.0 * static_cast<double>(c - 1) / static_cast<double>(o.classes) + rng.uniform(-6, 6) + 180.0, 180.0);
    const cv::Vec3b colour = hsv_to_rgb(hue, rng.uniform(150, 255), rng.uniform(150, 255));
    const float shade = static_cast<float>(rng.uniform(0.1, 0.3));  // keep a little of the texture
    for (int y = 0; y < size.height; ++y)
      for (int x = 0; x < size.width; ++x) {
        if (!inside.at<uint8_t>(y, x)) continue;
        const float t = 1.0f - shade + 2 * shade * tex.at<float>(y, x);
        for (int ch = 0; ch < 3; ++ch) image.at<cv::Vec3f>(y, x)[ch] = colour[ch] * t;
        labels.at<uint8_t>(y, x) = static_cast<uint8_t>(c);
      }
  }
  cv::Mat noise(size, CV_32FC3);
  cv::RNG(rng.next()).fill(noise, cv::RNG::NORMAL, cv::Scalar::all(0), cv::Scalar::all(rng.uniform(3, 12)));
  image += noise;
  cv::Mat out;
  image.convertTo(out, CV_8UC3);  // saturating
  return {out, labels};
}
}  // namespace

void make_shapes(const ShapesOptions& o) {
  if (o.classes < 1 || o.classes > 60) throw std::invalid_argument("--classes must be in 1..60");
  if (o.min_size < 2 || o.max_size < o.min_size) throw std::invalid_argument("sizes must satisfy 2 <= min-size <= max-size");
  GeneratedSet set{o.out, o.count, o.val_fraction, o.seed, o.threads, o.progress, shape_class_names(o.classes), {}};
  write_generated_set(set, [&](int64_t, Rng& rng) { return make_scene(o, rng); });
}

}  // namespace skipzoo::data
