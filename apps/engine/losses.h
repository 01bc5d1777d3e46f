#pragma once
// Training losses. Segmentation: cross-entropy + soft Dice over the foreground classes
// (nnU-Net's recipe); classification: cross-entropy with optional label smoothing.
#include <torch/torch.h>

#include <functional>

namespace skipzoo::app {

struct SegLossOptions {
  int64_t ignore_index = 255;
  torch::Tensor class_weights;  // optional [K] weights for the cross-entropy term
  double ce_weight = 1.0;
  double dice_weight = 1.0;     // 0 turns the Dice term off
  double dice_smooth = 1e-5;
  int64_t background = 0;       // the class left out of the Dice term (-1: none)
};

// Completes a batch's sums when data-parallel ranks each hold a share of the batch: the sum over
// the ranks, differentiable (RankGroup::sum). Empty: one process holds the whole batch.
using BatchSum = std::function<torch::Tensor(const torch::Tensor&)>;

// logits [N,K,H,W], target [N,H,W] int64 with ignore_index for unlabelled pixels.
// Cross-entropy is the mean over the batch's labelled pixels (weighted by class_weights, as
// cross_entropy's mean is); Dice is computed over the whole batch for every class but
// `background`, ignoring ignored pixels. Both are built from sums over the batch, completed by
// `over_ranks`, so ranks holding shares of a batch get the loss (and gradients) of the whole
// batch. A batch without a single labelled pixel gives a zero loss (not NaN).
torch::Tensor segmentation_loss(const torch::Tensor& logits, const torch::Tensor& target, const SegLossOptions& o,
                                const BatchSum& over_ranks = {});

// The soft Dice term alone (1 - mean Dice over the classes but `background`), for tests and logging.
torch::Tensor soft_dice_loss(const torch::Tensor& logits, const torch::Tensor& target, int64_t ignore_index,
                             double smooth, int64_t background = 0, const BatchSum& over_ranks = {});

// logits [N,K], target [N] int64.
torch::Tensor classification_loss(const torch::Tensor& logits, const torch::Tensor& target, double label_smoothing);

}  // namespace skipzoo::app
