// `make-cells`: a microscopy-like segmentation set in the manner of serial-section electron
// microscopy of neural tissue (the ISBI 2012 membrane challenge, Arganda-Carreras et al. 2015):
// bright cell profiles separated by thin dark membranes, with dark organelles inside the cells
// that are *not* membranes, so the network needs context and not just a threshold. Cells are
// the regions of a Voronoi diagram whose coordinates are warped by a smooth field (curved walls).
#include <opencv2/imgproc.hpp>

#include <cmath>

#include "generated_set.h"
#include "skipzoo/data/tools.h"

namespace skipzoo::data {

namespace {

struct Seeds {
  int spacing = 0, cols = 0, rows = 0;
  std::vector<cv::Point2f> points;  // one per grid cell, jittered inside it
  std::vector<float> brightness;    // per cell
  const cv::Point2f& at(int gx, int gy) const { return points[static_cast<size_t>(gy * cols + gx)]; }
};

Seeds jittered_grid(cv::Size size, double spacing, Rng& rng) {
  Seeds s;
  s.spacing = std::max(4, static_cast<int>(std::lround(spacing)));
  s.cols = size.width / s.spacing + 3;  // a margin of cells around the image: warped pixels may leave it
  s.rows = size.height / s.spacing + 3;
  for (int gy = 0; gy < s.rows; ++gy)
    for (int gx = 0; gx < s.cols; ++gx) {
      s.points.emplace_back(static_cast<float>((gx - 1 + rng.uniform(0.1, 0.9)) * s.spacing),
                            static_cast<float>((gy - 1 + rng.uniform(0.1, 0.9)) * s.spacing));
      s.brightness.push_back(static_cast<float>(rng.uniform(0.55, 0.9)));
    }
  return s;
}

// Distance from p to the nearest Voronoi wall, and the index of p's cell.
std::pair<float, int> wall_distance(const Seeds& s, cv::Point2f p) {
  const int gx = static_cast<int>(std::floor(p.x / s.spacing)) + 1, gy = static_cast<int>(std::floor(p.y / s.spacing)) + 1;
  float best = 1e30f;
  int nearest = -1;
  for (int pass = 0; pass < 2; ++pass) {  // pass 0: the nearest seed; pass 1: the nearest wall to it
    float wall = 1e30f;
    for (int dy = -2; dy <= 2; ++dy)
      for (int dx = -2; dx <= 2; ++dx) {
        const int x = std::clamp(gx + dx, 0, s.cols - 1), y = std::clamp(gy + dy, 0, s.rows - 1);
        const int k = y * s.cols + x;
        const cv::Point2f q = s.points[static_cast<size_t>(k)];
        const float d2 = (p - q).dot(p - q);
        if (pass == 0) {
          if (d2 < best) best = d2, nearest = k;
        } else if (k != nearest) {
          // Distance to the bisector of (nearest, k): (|p-k|^2 - |p-n|^2) / (2 |k-n|).
          const cv::Point2f n = s.points[static_cast<size_t>(nearest)];
          const float len = std::sqrt((q - n).dot(q - n));
          if (len > 0) wall = std::min(wall, (d2 - best) / (2 * len));
        }
      }
    if (pass == 1) return {wall, nearest};
  }
  return {0.f, nearest};
}

std::pair<cv::Mat, cv::Mat> make_cells_image(const CellsOptions& o, Rng& rng) {
  const cv::Size size(static_cast<int>(o.size), static_cast<int>(o.size));
  const Seeds seeds = jittered_grid(size, o.cell_size * rng.uniform(0.8, 1.25), rng);
  // Smooth fields: coordinate warp (curved walls), membrane width, illumination.
  cv::Mat warp_x = texture(size, rng), warp_y = texture(size, rng);
  const cv::Mat width = texture(size, rng), light = texture(size, rng), grain = texture(size, rng);
  for (cv::Mat* w : {&warp_x, &warp_y}) cv::GaussianBlur(*w, *w, cv::Size(), 3.0);  // gently curved walls, not jagged
  const double warp = 0.3 * seeds.spacing, thin = rng.uniform(1.5, 2.5), thick = rng.uniform(3.0, 5.0);  // full widths, px
  const float membrane_level = static_cast<float>(rng.uniform(0.08, 0.25));

  cv::Mat image(size, CV_32F), labels(size, CV_8U);
  for (int y = 0; y < size.height; ++y)
    for (int x = 0; x < size.width; ++x) {
      const cv::Point2f p(static_cast<float>(x + warp * (warp_x.at<float>(y, x) - 0.5)),
                          static_cast<float>(y + warp * (warp_y.at<float>(y, x) - 0.5)));
      const auto [wall, cell] = wall_distance(seeds, p);
      const float half = static_cast<float>(thin + (thick - thin) * width.at<float>(y, x)) / 2;
      const float inside = seeds.brightness[static_cast<size_t>(cell)] * (0.85f + 0.3f * grain.at<float>(y, x));
      // A dark wall with soft flanks: the label's edge (wall < half) is not where the intensity jumps.
      const float profile = std::exp(-0.5f * (wall / half) * (wall / half));
      image.at<float>(y, x) = inside + (membrane_level - inside) * profile;
      labels.at<uint8_t>(y, x) = wall < half ? 0 : 1;
    }

  // Organelles: dark filled ellipses (mitochondria) and dark rings (vesicles) inside cells.
  const int64_t organelles = static_cast<int64_t>(size.area() / (o.cell_size * o.cell_size) * rng.uniform(0.8, 2.0));
  for (int64_t k = 0; k < organelles; ++k) {
    const cv::Point centre(static_cast<int>(rng.below(size.width)), static_cast<int>(rng.below(size.height)));
    if (labels.at<uint8_t>(centre) == 0) continue;
    const double r = rng.uniform(2.0, o.cell_size / 6.0);
    const cv::Size axes(static_cast<int>(std::lround(r * rng.uniform(1.0, 2.2))), static_cast<int>(std::lround(r)));
    cv::Mat blob = cv::Mat::zeros(size, CV_8U);
    const bool ring = rng.chance(0.4);
    cv::ellipse(blob, centre, axes, rng.uniform(0, 180), 0, 360, cv::Scalar(255), ring ? 2 : cv::FILLED, cv::LINE_AA);
    blob.setTo(0, labels == 0);  // organelles never cross a membrane
    const float level = membrane_level + static_cast<float>(rng.uniform(0.0, 0.15));
    for (int y = 0; y < size.height; ++y)
      for (int x = 0; x < size.width; ++x) {
        const float a = blob.at<uint8_t>(y, x) / 255.0f;
        if (a > 0) image.at<float>(y, x) += (level - image.at<float>(y, x)) * a;
      }
  }

  cv::GaussianBlur(image, image, cv::Size(), rng.uniform(0.8, 1.4));
  cv::multiply(image, light * 0.4 + 0.8, image);  // uneven illumination, 0.8 .. 1.2
  cv::Mat noise(size, CV_32F);
  cv::RNG(rng.next()).fill(noise, cv::RNG::NORMAL, 0.0, rng.uniform(0.03, 0.07));
  image += noise;
  cv::Mat out;
  image.convertTo(out, CV_8U, 255.0);  // saturating
  return {out, labels};
}

}  // namespace

void make_cells(const CellsOptions& o) {
  if (o.size < 32) throw std::invalid_argument("--size must be at least 32");
  if (o.cell_size < 8 || o.cell_size > o.size) throw std::invalid_argument("--cell-size must be in 8..size");
  GeneratedSet set{o.out, o.count, o.val_fraction, o.seed, o.threads, o.progress, {"membrane", "cell"}, {0, 255}};
  write_generated_set(set, [&](int64_t, Rng& rng) { return make_cells_image(o, rng); });
}

}  // namespace skipzoo::data
