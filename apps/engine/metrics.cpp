#include "engine/metrics.h"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace skipzoo::app {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double nanmean(const std::vector<double>& v) {
  double sum = 0;
  int n = 0;
  for (double x : v) {
    if (!std::isnan(x)) {
      sum += x;
      ++n;
    }
  }
  return n ? sum / n : kNaN;
}
}  // namespace

ConfusionMatrix::ConfusionMatrix(int64_t classes)
    : classes_(classes), counts_(torch::zeros({classes, classes}, torch::kLong)) {
  if (classes < 1) throw std::invalid_argument("confusion matrix needs at least one class");
}

void ConfusionMatrix::update(const torch::Tensor& pred, const torch::Tensor& target, int64_t ignore_index) {
  TORCH_CHECK(pred.sizes() == target.sizes(), "confusion matrix: prediction ", pred.sizes(), " vs target ",
              target.sizes());
  auto p = pred.reshape(-1).to(torch::kCPU, torch::kLong);
  auto t = target.reshape(-1).to(torch::kCPU, torch::kLong);
  auto keep = t.ne(ignore_index);
  p = p.masked_select(keep);
  t = t.masked_select(keep);
  if (t.numel() == 0) return;
  if (t.min().item<int64_t>() < 0 || t.max().item<int64_t>() >= classes_) {
    throw std::invalid_argument("confusion matrix: target values must be in [0, " + std::to_string(classes_) +
                                ") or the ignore index " + std::to_string(ignore_index));
  }
  TORCH_CHECK(p.min().item<int64_t>() >= 0 && p.max().item<int64_t>() < classes_,
              "confusion matrix: prediction out of range");
  counts_ += torch::bincount(t * classes_ + p, {}, classes_ * classes_).reshape({classes_, classes_});
}

void ConfusionMatrix::merge(const ConfusionMatrix& other) {
  TORCH_CHECK(other.classes_ == classes_, "confusion matrix: cannot merge different class counts");
  counts_ += other.counts_;
}

int64_t ConfusionMatrix::total() const { return counts_.sum().item<int64_t>(); }

std::vector<double> ConfusionMatrix::iou() const {
  auto c = counts_.to(torch::kDouble);
  auto tp = c.diagonal(), fp = c.sum(0) - tp, fn = c.sum(1) - tp;
  std::vector<double> out;
  for (int64_t i = 0; i < classes_; ++i) {
    const double d = (tp[i] + fp[i] + fn[i]).item<double>();
    out.push_back(d > 0 ? tp[i].item<double>() / d : kNaN);
  }
  return out;
}

std::vector<double> ConfusionMatrix::dice() const {
  auto c = counts_.to(torch::kDouble);
  auto tp = c.diagonal(), fp = c.sum(0) - tp, fn = c.sum(1) - tp;
  std::vector<double> out;
  for (int64_t i = 0; i < classes_; ++i) {
    const double d = (2 * tp[i] + fp[i] + fn[i]).item<double>();
    out.push_back(d > 0 ? 2 * tp[i].item<double>() / d : kNaN);
  }
  return out;
}

std::vector<double> ConfusionMatrix::recall() const {
  auto c = counts_.to(torch::kDouble);
  auto tp = c.diagonal(), truth = c.sum(1);
  std::vector<double> out;
  for (int64_t i = 0; i < classes_; ++i) {
    const double d = truth[i].item<double>();
    out.push_back(d > 0 ? tp[i].item<double>() / d : kNaN);
  }
  return out;
}

double ConfusionMatrix::mean_iou() const { return nanmean(iou()); }
double ConfusionMatrix::mean_dice() const { return nanmean(dice()); }

double ConfusionMatrix::pixel_accuracy() const {
  const auto n = total();
  return n ? counts_.diagonal().sum().item<double>() / static_cast<double>(n) : kNaN;
}

int64_t topk_correct(const torch::Tensor& logits, const torch::Tensor& target, int64_t k) {
  k = std::min<int64_t>(k, logits.size(1));
  auto top = std::get<1>(logits.topk(k, 1));  // [N,k]
  return top.eq(target.view({-1, 1}).to(top.device())).any(1).sum().item<int64_t>();
}

double topk_accuracy(const torch::Tensor& logits, const torch::Tensor& target, int64_t k) {
  return logits.size(0) ? static_cast<double>(topk_correct(logits, target, k)) / logits.size(0) : kNaN;
}

}  // namespace skipzoo::app
