#include "engine/classification.h"

#include <opencv2/imgproc.hpp>
#include <skipzoo/data/loader.h>
#include <skipzoo/data/sources.h>
#include <skipzoo/models/weights.h>

#include <filesystem>
#include <fstream>

#include "engine/json_file.h"
#include "plot/plot.h"

namespace skipzoo::app {

namespace fs = std::filesystem;

torch::Tensor multi_crop_tensor(const cv::Mat& image, const data::EvalTransform& view, int64_t crops,
                                const data::Normalization& norm) {
  // The crops come from the view without its centre crop (resized short side, or the image).
  auto base_view = view;
  if (view.view == data::EvalView::ResizeShortSide) base_view.crop = 0;
  if (view.view == data::EvalView::CenterCrop) base_view.view = data::EvalView::Whole;
  cv::Mat base = data::eval_view(image, base_view);
  const int c = static_cast<int>(view.crop > 0 ? view.crop : std::min(base.rows, base.cols));
  if (base.rows < c || base.cols < c) {  // pad small images so every crop fits
    cv::copyMakeBorder(base, base, 0, std::max(0, c - base.rows), 0, std::max(0, c - base.cols), cv::BORDER_CONSTANT, 0);
  }
  const int w = base.cols, h = base.rows;
  const std::vector<cv::Rect> rects = {{0, 0, c, c}, {w - c, 0, c, c}, {0, h - c, c, c}, {w - c, h - c, c, c},
                                       {(w - c) / 2, (h - c) / 2, c, c}};
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < std::min<int64_t>(crops, 5); ++i) out.push_back(data::image_to_tensor(base(rects[i]), norm));
  if (crops > 5) {
    for (int64_t i = 0; i < 5; ++i) out.push_back(out[i].flip({2}));
  }
  return torch::stack(out);
}

namespace {

using Forward = std::function<torch::Tensor(const torch::Tensor&)>;

torch::Tensor probabilities(const Forward& forward, const torch::Tensor& x, const torch::Device& device) {
  return forward(x.to(device)).to(torch::kCPU, torch::kFloat).softmax(1);
}

// Fixed-size views: the data loader decodes and transforms in parallel, in dataset order.
torch::Tensor classify_fixed(const Forward& forward, const std::vector<std::string>& images, const ClsInference& inf,
                             const std::function<void(int64_t, int64_t)>& progress) {
  std::vector<data::ClassificationSample> samples;
  for (const auto& path : images) samples.push_back({path, 0});
  auto source = std::make_shared<data::ClassificationEval>(samples, inf.view, inf.norm, inf.read);
  data::LoaderOptions options;
  options.batch_size = inf.batch;
  options.workers = inf.workers;
  options.shuffle = false;
  options.drop_last = false;
  data::Loader loader(source, options);
  loader.start_epoch(0);
  std::vector<torch::Tensor> parts;
  data::Batch batch;
  int64_t done = 0;
  while (loader.next(batch)) {
    parts.push_back(probabilities(forward, batch.images, inf.device));
    done += batch.images.size(0);
    if (progress) progress(done, static_cast<int64_t>(images.size()));
  }
  return torch::cat(parts);
}

}  // namespace

torch::Tensor classify_images(const Forward& forward, const std::vector<std::string>& images,
                              const ClsInference& inf, const std::function<void(int64_t, int64_t)>& progress) {
  if (images.empty()) return torch::empty({0, 0});
  if (inf.crops <= 1 && inf.view.fixed_size() != cv::Size(0, 0)) return classify_fixed(forward, images, inf, progress);
  // Whole images (any size) or multi-crop: image by image, consecutive same-size images batched.
  std::vector<torch::Tensor> rows;
  std::vector<torch::Tensor> pending;
  auto flush = [&] {
    if (pending.empty()) return;
    auto p = probabilities(forward, torch::stack(pending), inf.device);
    for (int64_t i = 0; i < p.size(0); ++i) rows.push_back(p[i]);
    pending.clear();
  };
  for (size_t i = 0; i < images.size(); ++i) {
    const auto image = data::read_image(images[i], inf.read);
    if (inf.crops > 1) {
      flush();
      rows.push_back(probabilities(forward, multi_crop_tensor(image, inf.view, inf.crops, inf.norm), inf.device).mean(0));
    } else {
      auto x = data::eval_tensor(image, inf.view, inf.norm);
      if (!pending.empty() && (pending.front().sizes() != x.sizes() || static_cast<int64_t>(pending.size()) >= inf.batch)) {
        flush();
      }
      pending.push_back(x);
    }
    if (progress) progress(static_cast<int64_t>(i + 1), static_cast<int64_t>(images.size()));
  }
  flush();
  return torch::stack(rows);
}

ConfusionMatrix confusion_of(const torch::Tensor& probs, const torch::Tensor& labels, int64_t classes) {
  ConfusionMatrix cm(classes);
  if (probs.size(0) > 0) cm.update(probs.argmax(1), labels);
  return cm;
}

nlohmann::json classification_metrics(const torch::Tensor& probs, const torch::Tensor& labels,
                                      const std::vector<std::string>& names) {
  const auto classes = static_cast<int64_t>(names.size());
  const auto cm = confusion_of(probs, labels, classes);
  nlohmann::json per_class = nlohmann::json::object();
  double sum = 0;
  int counted = 0;
  const auto recall = cm.recall();
  for (int64_t c = 0; c < classes; ++c) {
    if (std::isnan(recall[c])) {
      per_class[names[c]] = nullptr;
    } else {
      per_class[names[c]] = recall[c];
      sum += recall[c];
      ++counted;
    }
  }
  nlohmann::json confusion = nlohmann::json::array();
  for (int64_t r = 0; r < classes; ++r) {
    auto row = cm.counts()[r];
    confusion.push_back(std::vector<int64_t>(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + classes));
  }
  return {{"top1", topk_accuracy(probs, labels, 1)},
          {"top5", topk_accuracy(probs, labels, 5)},
          {"mean_class_acc", counted ? sum / counted : std::nan("")},
          {"per_class_acc", per_class},
          {"images", probs.size(0)},
          {"confusion", confusion}};
}

void write_confusion(const std::string& dir, const ConfusionMatrix& cm, const std::vector<std::string>& names) {
  fs::create_directories(dir);
  const auto k = cm.classes();
  std::string csv = "true\\predicted";
  for (const auto& n : names) csv += "," + n;
  csv += "\n";
  std::vector<std::vector<double>> matrix;
  for (int64_t r = 0; r < k; ++r) {
    csv += names[r];
    matrix.emplace_back();
    for (int64_t c = 0; c < k; ++c) {
      const auto v = cm.counts()[r][c].item<int64_t>();
      csv += "," + std::to_string(v);
      matrix.back().push_back(static_cast<double>(v));
    }
    csv += "\n";
  }
  write_text((fs::path(dir) / "confusion.csv").string(), csv);
  HeatmapOptions options;
  options.title = "confusion matrix";
  options.x_label = "predicted";
  options.y_label = "true";
  save_png((fs::path(dir) / "confusion.png").string(), heatmap(matrix, names, names, options));
}

}  // namespace skipzoo::app
