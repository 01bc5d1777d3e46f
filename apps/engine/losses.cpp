#include "engine/losses.h"

#include <limits>

namespace skipzoo::app {

namespace F = torch::nn::functional;

namespace {
torch::Tensor complete(const torch::Tensor& partial, const BatchSum& over_ranks) {
  return over_ranks ? over_ranks(partial) : partial;
}
}  // namespace

torch::Tensor soft_dice_loss(const torch::Tensor& logits, const torch::Tensor& target, int64_t ignore_index,
                             double smooth, int64_t background, const BatchSum& over_ranks) {
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
  // Per class: the intersection and the denominator, summed over the whole batch.
  const auto sums = complete(torch::stack({(probs * onehot).sum(dims), probs.sum(dims) + onehot.sum(dims)}), over_ranks);
  auto dice = (2 * sums[0] + smooth) / (sums[1] + smooth);  // [K]
  if (background < 0 || background >= k) return 1 - dice.mean();
  return 1 - torch::cat({dice.slice(0, 0, background), dice.slice(0, background + 1)}).mean();
}

torch::Tensor segmentation_loss(const torch::Tensor& logits, const torch::Tensor& target, const SegLossOptions& o,
                                const BatchSum& over_ranks) {
  auto loss = logits.sum() * 0;  // keeps the graph connected even when every pixel is ignored
  if (o.ce_weight > 0) {
    // cross_entropy's weighted mean, as its two sums: sum of w[y] * nll, and sum of w[y].
    auto ce_options = F::CrossEntropyFuncOptions().ignore_index(o.ignore_index).reduction(torch::kSum);
    const auto valid = target.ne(o.ignore_index);
    torch::Tensor weight_sum;
    if (o.class_weights.defined()) {
      const auto weights = o.class_weights.to(logits.device(), torch::kFloat);
      ce_options.weight(weights);
      weight_sum = weights.index({target.masked_fill(valid.logical_not(), 0)}).masked_fill(valid.logical_not(), 0).sum();
    } else {
      weight_sum = valid.sum();
    }
    // In double: a pixel count stays exact beyond float's 2^24.
    const auto ce = F::cross_entropy(logits.to(torch::kFloat), target, ce_options);
    const auto sums = complete(torch::stack({ce.to(torch::kDouble), weight_sum.to(torch::kDouble)}), over_ranks);
    // No labelled pixel in the whole batch: both sums are 0, and so is the term.
    loss = loss + o.ce_weight * (sums[0] / sums[1].clamp_min(std::numeric_limits<double>::min())).to(torch::kFloat);
  }
  if (o.dice_weight > 0) {
    loss = loss + o.dice_weight * soft_dice_loss(logits, target, o.ignore_index, o.dice_smooth, o.background, over_ranks);
  }
  return loss;
}

torch::Tensor classification_loss(const torch::Tensor& logits, const torch::Tensor& target, double label_smoothing) {
  // LibTorch 1.13's cross_entropy takes label_smoothing directly.
  return F::cross_entropy(logits.to(torch::kFloat), target, F::CrossEntropyFuncOptions().label_smoothing(label_smoothing));
}

}  // namespace skipzoo::app
