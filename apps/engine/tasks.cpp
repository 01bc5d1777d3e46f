#include "engine/tasks.h"

#include <filesystem>
#include <iomanip>
#include <sstream>

namespace skipzoo::app {

namespace fs = std::filesystem;

bool LoaderSource::next(Batch& batch) {
  if (!loader_->next(batch_)) return false;
  batch.inputs = batch_.images;
  batch.targets = batch_.targets;
  return true;
}

std::pair<size_t, size_t> TaskHooks::share_of(size_t n) const {
  if (!ranks_) return {0, n};
  const auto rank = static_cast<size_t>(ranks_->rank()), ranks = static_cast<size_t>(ranks_->world_size());
  return {n * rank / ranks, n * (rank + 1) / ranks};
}

nlohmann::json SegTask::validate(const ForwardFn& forward, const torch::Device& device, const std::string& dir,
                                 int64_t epoch) {
  auto inference = o_.inference;
  inference.device = device;
  const auto [first, last] = share_of(o_.val.size());
  const std::vector<data::SegmentationSample> mine(o_.val.begin() + static_cast<std::ptrdiff_t>(first),
                                                   o_.val.begin() + static_cast<std::ptrdiff_t>(last));
  const fs::path overlay_dir = fs::path(dir) / "overlays";
  auto sink = [&](size_t k, const cv::Mat& image, const cv::Mat& truth, const cv::Mat& pred) {
    const size_t i = first + k;
    if (dir.empty() || static_cast<int64_t>(i) >= o_.overlays) return;
    fs::create_directories(overlay_dir);
    std::ostringstream name;
    name << "epoch_" << std::setw(3) << std::setfill('0') << epoch + 1 << "_" << fs::path(o_.val[i].image).stem().string()
         << ".png";
    data::write_image((overlay_dir / name.str()).string(), overlay_panel(image, truth, pred));
  };
  auto cm = evaluate_segmentation(forward, mine, o_.mapping, o_.classes, inference, sink);
  if (ranks_) {
    auto counts = cm.counts();  // the matrix's own storage: summed in place over the ranks
    ranks_->sum_(counts);
  }
  return segmentation_metrics(cm);
}

nlohmann::json ClsTask::validate(const ForwardFn& forward, const torch::Device& device, const std::string& dir,
                                 int64_t epoch) {
  if (o_.val.empty()) return nlohmann::json::object();
  auto inference = o_.inference;
  inference.device = device;
  std::vector<std::string> images;
  std::vector<int64_t> labels;
  for (const auto& s : o_.val) {
    images.push_back(s.image);
    labels.push_back(s.label);
  }
  const auto [first, last] = share_of(images.size());
  const std::vector<std::string> mine(images.begin() + static_cast<std::ptrdiff_t>(first),
                                      images.begin() + static_cast<std::ptrdiff_t>(last));
  auto probs = mine.empty() ? torch::Tensor() : classify_images(forward, mine, inference);
  if (ranks_) {  // every rank's rows in one [N, K] matrix, zero elsewhere, summed over the ranks
    auto all = torch::zeros({static_cast<int64_t>(images.size()), static_cast<int64_t>(o_.class_names.size())},
                            torch::kFloat);
    if (probs.defined()) all.slice(0, static_cast<int64_t>(first), static_cast<int64_t>(last)).copy_(probs);
    ranks_->sum_(all);
    probs = all;
  }
  const auto truth = torch::tensor(labels, torch::kLong);
  auto metrics = classification_metrics(probs, truth, o_.class_names);
  if (!dir.empty()) {
    write_confusion(dir, confusion_of(probs, truth, static_cast<int64_t>(o_.class_names.size())), o_.class_names);
  }
  metrics.erase("confusion");  // in confusion.csv; the history keeps the scalars
  return metrics;
}

std::vector<double> class_frequencies(const std::vector<std::string>& masks, const data::MaskMapping& mapping,
                                      size_t max_masks) {
  std::vector<double> counts(static_cast<size_t>(mapping.num_classes()), 0.0);
  const size_t n = std::min(masks.size(), max_masks);
  for (size_t k = 0; k < n; ++k) {
    const cv::Mat labels = data::read_mask(masks[k * masks.size() / n], mapping);
    for (int64_t c = 0; c < mapping.num_classes(); ++c) {
      counts[static_cast<size_t>(c)] += cv::countNonZero(labels == static_cast<int>(c));
    }
  }
  double total = 0;
  for (double c : counts) total += c;
  for (double& c : counts) c = total > 0 ? c / total : 0.0;
  return counts;
}

data::Normalization estimate_normalization(const std::vector<std::string>& images, const data::ImageReadOptions& read,
                                           int64_t channels, size_t max_images) {
  std::vector<double> sum(channels, 0.0), sq(channels, 0.0);
  double pixels = 0;
  const size_t n = std::min(images.size(), max_images);
  for (size_t k = 0; k < n; ++k) {
    const auto& path = images[k * images.size() / n];
    auto x = data::image_to_tensor(data::read_image(path, read)).to(torch::kDouble);  // [C,H,W] in [0,1]
    if (x.size(0) != channels) continue;
    auto flat = x.reshape({channels, -1});
    for (int64_t c = 0; c < channels; ++c) {
      sum[c] += flat[c].sum().item<double>();
      sq[c] += flat[c].square().sum().item<double>();
    }
    pixels += static_cast<double>(flat.size(1));
  }
  data::Normalization norm;
  for (int64_t c = 0; c < channels; ++c) {
    const double mean = pixels > 0 ? sum[c] / pixels : 0.5;
    const double var = pixels > 0 ? sq[c] / pixels - mean * mean : 0.0625;
    norm.mean.push_back(static_cast<float>(mean));
    norm.std.push_back(static_cast<float>(std::sqrt(std::max(var, 1e-6))));
  }
  return norm;
}

}  // namespace skipzoo::app
