// cv::Mat (HWC, any depth) -> normalised float CHW tensors, written row by row so ROIs and
// slices of preallocated batches need no intermediate copy.
#include <nlohmann/json.hpp>

#include "skipzoo/data/image.h"

namespace skipzoo::data {

float Normalization::mean_of(int64_t c) const {
  return mean.empty() ? 0.f : mean.size() == 1 ? mean[0] : mean.at(static_cast<size_t>(c));
}
float Normalization::std_of(int64_t c) const {
  return std.empty() ? 1.f : std.size() == 1 ? std[0] : std.at(static_cast<size_t>(c));
}

void Normalization::check(int64_t channels) const {
  const auto fits = [&](const std::vector<float>& v) {
    return v.empty() || v.size() == 1 || static_cast<int64_t>(v.size()) == channels;
  };
  if (!fits(mean) || !fits(std))
    throw std::invalid_argument("normalisation has " + std::to_string(mean.size()) + " means and " +
                                std::to_string(std.size()) + " stds for " + std::to_string(channels) +
                                " channels (give 1 or one per channel)");
  for (float s : std)
    if (!(s > 0)) throw std::invalid_argument("normalisation std must be > 0, got " + std::to_string(s));
}

std::string Normalization::to_json() const { return nlohmann::json{{"mean", mean}, {"std", std}}.dump(); }

Normalization Normalization::from_json(const std::string& text) {
  try {
    const auto j = nlohmann::json::parse(text);
    Normalization n;
    n.mean = j.value("mean", std::vector<float>{});
    n.std = j.value("std", std::vector<float>{});
    return n;
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("invalid normalisation JSON: ") + e.what());
  }
}

double unit_scale(int depth) {
  switch (depth) {
    case CV_8U: return 1.0 / 255.0;
    case CV_16U: return 1.0 / 65535.0;
    case CV_32F: return 1.0;
    default: throw std::invalid_argument("image_to_tensor: only 8-bit, 16-bit and float images");
  }
}

namespace {
template <typename T>
void scatter(const cv::Mat& image, const float* scale, const float* shift, float* out) {
  const int channels = image.channels();
  const int64_t plane = static_cast<int64_t>(image.rows) * image.cols;
  for (int y = 0; y < image.rows; ++y) {
    const T* row = image.ptr<T>(y);
    for (int c = 0; c < channels; ++c) {
      float* dst = out + c * plane + static_cast<int64_t>(y) * image.cols;
      const float a = scale[c], b = shift[c];
      for (int x = 0; x < image.cols; ++x) dst[x] = static_cast<float>(row[x * channels + c]) * a + b;
    }
  }
}
}  // namespace

void image_to_tensor(const cv::Mat& image, const Normalization& norm, torch::Tensor out) {
  const int channels = image.channels();
  if (image.empty() || channels > 4) throw std::invalid_argument("image_to_tensor: empty image or more than 4 channels");
  if (out.scalar_type() != torch::kFloat || !out.is_contiguous() ||
      out.sizes() != torch::IntArrayRef({channels, image.rows, image.cols}))
    throw std::invalid_argument("image_to_tensor: `out` must be a contiguous float tensor of shape [C, H, W]");
  norm.check(channels);
  // (x * unit - mean) / std folded into one multiply-add per pixel.
  const double unit = unit_scale(image.depth());
  float scale[4], shift[4];
  for (int c = 0; c < channels; ++c) {
    scale[c] = static_cast<float>(unit / norm.std_of(c));
    shift[c] = -norm.mean_of(c) / norm.std_of(c);
  }
  float* dst = out.data_ptr<float>();
  switch (image.depth()) {
    case CV_8U: scatter<uint8_t>(image, scale, shift, dst); break;
    case CV_16U: scatter<uint16_t>(image, scale, shift, dst); break;
    default: scatter<float>(image, scale, shift, dst); break;
  }
}

torch::Tensor image_to_tensor(const cv::Mat& image, const Normalization& norm) {
  auto out = torch::empty({image.channels(), image.rows, image.cols}, torch::kFloat);
  image_to_tensor(image, norm, out);
  return out;
}

}  // namespace skipzoo::data
