#include "engine/segmentation.h"

#include <opencv2/imgproc.hpp>
#include <skipzoo/data/error.h>

#include <array>
#include <cmath>

namespace skipzoo::app {

torch::Tensor segment_image(const ForwardFn& forward, const cv::Mat& image, const SegInference& inference) {
  auto x = data::image_to_tensor(image, inference.norm);  // [C,H,W]
  auto run = [&](const torch::Tensor& batch) { return forward(batch.to(inference.device)).to(torch::kCPU, torch::kFloat); };
  if (inference.use_tiles) return data::sliding_window(x, run, inference.tile);
  c10::InferenceMode guard;
  return run(x.unsqueeze(0))[0];
}

namespace {
// Class colours: 0 dark grey, ignore black, others golden-ratio hues so neighbouring ids differ.
const std::array<cv::Vec3b, 256>& palette() {
  static const std::array<cv::Vec3b, 256> colors = [] {
    std::array<cv::Vec3b, 256> p{};
    cv::Mat hsv(1, 256, CV_8UC3), rgb;
    for (int c = 0; c < 256; ++c) hsv.at<cv::Vec3b>(0, c) = {static_cast<uint8_t>(std::fmod(c * 0.618034, 1.0) * 180), 220, 255};
    cv::cvtColor(hsv, rgb, cv::COLOR_HSV2RGB);
    for (int c = 0; c < 256; ++c) p[c] = rgb.at<cv::Vec3b>(0, c);
    p[0] = {60, 60, 60};
    p[data::kIgnoreIndex] = {0, 0, 0};
    return p;
  }();
  return colors;
}
}  // namespace

cv::Mat colorize_labels(const cv::Mat& labels) {
  CV_Assert(labels.type() == CV_8U);
  const auto& colors = palette();
  cv::Mat out(labels.size(), CV_8UC3);
  for (int y = 0; y < labels.rows; ++y) {
    const uint8_t* in = labels.ptr<uint8_t>(y);
    auto* px = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < labels.cols; ++x) px[x] = colors[in[x]];
  }
  return out;
}

cv::Mat display_rgb(const cv::Mat& image) {
  cv::Mat m = image;
  if (m.depth() != CV_8U) m.convertTo(m, CV_8U, 255.0 * data::unit_scale(m.depth()));
  if (m.channels() == 1) cv::cvtColor(m, m, cv::COLOR_GRAY2RGB);
  if (m.channels() == 4) cv::cvtColor(m, m, cv::COLOR_RGBA2RGB);
  return m;
}

cv::Mat overlay_labels(const cv::Mat& image, const cv::Mat& labels, double alpha) {
  cv::Mat base = display_rgb(image).clone(), colors = colorize_labels(labels), blended;
  cv::addWeighted(base, 1 - alpha, colors, alpha, 0, blended);
  // Background (class 0) and ignored pixels keep the image as it is: only objects are tinted.
  blended.copyTo(base, (labels != data::kIgnoreIndex) & (labels != 0));
  return base;
}

cv::Mat overlay_panel(const cv::Mat& image, const cv::Mat& truth, const cv::Mat& prediction) {
  const int caption = 22;
  std::vector<std::pair<cv::Mat, std::string>> parts = {
      {display_rgb(image), "image"}, {overlay_labels(image, truth), "truth"}, {overlay_labels(image, prediction), "prediction"}};
  cv::Mat panel(image.rows + caption, image.cols * 3 + 8, CV_8UC3, cv::Scalar(255, 255, 255));
  for (size_t i = 0; i < parts.size(); ++i) {
    const int x0 = static_cast<int>(i) * (image.cols + 4);
    parts[i].first.copyTo(panel(cv::Rect(x0, caption, image.cols, image.rows)));
    cv::putText(panel, parts[i].second, {x0 + 2, 16}, cv::FONT_HERSHEY_SIMPLEX, 0.5, {0, 0, 0}, 1, cv::LINE_AA);
  }
  return panel;
}

nlohmann::json segmentation_metrics(const ConfusionMatrix& cm) {
  auto list = [](const std::vector<double>& v) {
    auto a = nlohmann::json::array();
    for (double x : v) a.push_back(std::isnan(x) ? nlohmann::json() : nlohmann::json(x));
    return a;
  };
  return {{"mIoU", cm.mean_iou()},  {"mDice", cm.mean_dice()}, {"pixel_acc", cm.pixel_accuracy()},
          {"iou", list(cm.iou())}, {"dice", list(cm.dice())},  {"pixels", cm.total()}};
}

ConfusionMatrix evaluate_segmentation(const ForwardFn& forward, const std::vector<data::SegmentationSample>& samples,
                                      const data::MaskMapping& mapping, int64_t classes,
                                      const SegInference& inference, const SegImageSink& on_image) {
  ConfusionMatrix cm(classes);
  for (size_t i = 0; i < samples.size(); ++i) {
    const cv::Mat image = data::read_image(samples[i].image, inference.read);
    const cv::Mat truth = data::read_mask(samples[i].mask, mapping);
    if (truth.size() != image.size()) {
      throw data::DataError("'" + samples[i].mask + "' is " + std::to_string(truth.cols) + "x" +
                            std::to_string(truth.rows) + " but its image is " + std::to_string(image.cols) + "x" +
                            std::to_string(image.rows));
    }
    auto pred = segment_image(forward, image, inference).argmax(0);
    cm.update(pred, data::labels_to_tensor(truth), data::kIgnoreIndex);
    if (on_image) on_image(i, image, truth, data::tensor_to_labels(pred));
  }
  return cm;
}

}  // namespace skipzoo::app
