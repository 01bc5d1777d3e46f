#pragma once
// Evaluation metrics from one dataset-level confusion matrix (mmsegmentation / torchmetrics
// conventions): ignored pixels are dropped, and classes absent from both prediction and truth
// are left out of the means.
#include <torch/torch.h>

#include <string>
#include <vector>

namespace skipzoo::app {

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int64_t classes);
  // pred and target: int64 tensors of the same shape; target == ignore_index is skipped.
  // Target values outside [0, classes) that are not ignore_index are an error.
  void update(const torch::Tensor& pred, const torch::Tensor& target, int64_t ignore_index = -1);
  void merge(const ConfusionMatrix& other);

  int64_t classes() const { return classes_; }
  const torch::Tensor& counts() const { return counts_; }  // [truth, prediction], int64, CPU
  int64_t total() const;

  std::vector<double> iou() const;   // NaN for classes with TP+FP+FN == 0
  std::vector<double> dice() const;  // NaN likewise
  double mean_iou() const;           // mean over the non-NaN classes
  double mean_dice() const;
  double pixel_accuracy() const;     // trace / total
  std::vector<double> recall() const;  // per-class accuracy: TP / (TP + FN); NaN if no truth

 private:
  int64_t classes_;
  torch::Tensor counts_;
};

// Fraction of rows whose target is among the k largest logits. logits [N,K], target [N].
double topk_accuracy(const torch::Tensor& logits, const torch::Tensor& target, int64_t k);
// Number of such rows (for accumulating over batches).
int64_t topk_correct(const torch::Tensor& logits, const torch::Tensor& target, int64_t k);

}  // namespace skipzoo::app
