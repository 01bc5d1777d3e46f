#include "engine/losses.h"

namespace skipzoo::app {

namespace F = torch::nn::functional;

torch::Tensor soft_dice_loss(const torch::Tensor& logits, const torch::Tensor& target, int64_t ignore_index,
                             double smooth, int64_t background) {
  const int64_t k = logits.size(1);
  if (k < 2) return logits.sum() * 0;
  auto probs = logits.to(torch::kFloat).softmax(1);
  auto valid = target.ne(ignore_index);                          // [N,H,W]
  auto safe = target.masked_fill(valid.logical_not(), 0);        // any class id; masked out below
  auto onehot = F::one_hot(safe, k).permute({0, 3, 1, 2}).to(probs.dtype());
  auto mask = valid.unsqueeze(1).to(probs.dtype());
  probs = probs * mask;
  onehot = onehot * mask;
  const std::vector<int64_t> dims = {0, 2, 3};
  auto intersection = (probs * onehot).sum(dims);
  auto denominator = probs.sum(dims) + onehot.sum(dims);
  auto dice = (2 * intersection + smooth) / (denominator + smooth);  // [K]
  if (background < 0 || background >= k) return 1 - dice.mean();
  return 1 - torch::cat({dice.slice(0, 0, background), dice.slice(0, background + 1)}).mean();
}

torch::Tensor segmentation_loss(const torch::Tensor& logits, const torch::Tensor& target, const SegLossOptions& o) {
  auto loss = logits.sum() * 0;  // keeps the graph connected even when every pixel is ignored
  if (target.ne(o.ignore_index).any().item<bool>()) {
    auto ce_options = F::CrossEntropyFuncOptions().ignore_index(o.ignore_index);
    if (o.class_weights.defined()) ce_options.weight(o.class_weights.to(logits.device(), torch::kFloat));
    if (o.ce_weight > 0) loss = loss + o.ce_weight * F::cross_entropy(logits.to(torch::kFloat), target, ce_options);
    if (o.dice_weight > 0) loss = loss + o.dice_weight * soft_dice_loss(logits, target, o.ignore_index, o.dice_smooth, o.background);
  }
  return loss;
}

torch::Tensor classification_loss(const torch::Tensor& logits, const torch::Tensor& target, double label_smoothing) {
  // LibTorch 1.13's cross_entropy takes label_smoothing directly.
  return F::cross_entropy(logits.to(torch::kFloat), target, F::CrossEntropyFuncOptions().label_smoothing(label_smoothing));
}

}  // namespace skipzoo::app
