// Engine losses and metrics against hand-computed values and independent torch expressions.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/losses.h"
#include "engine/metrics.h"

using namespace skipzoo::app;

TEST(ConfusionMatrix, HandComputedWithIgnoreAndAbsentClass) {
  // 4 classes; class 3 never appears in truth or prediction; 255 pixels are ignored.
  auto target = torch::tensor({0, 0, 1, 1, 1, 2, 255, 255}, torch::kLong);
  auto pred = torch::tensor({0, 1, 1, 1, 2, 2, 3, 0}, torch::kLong);
  ConfusionMatrix cm(4);
  cm.update(pred, target, 255);
  // rows = truth, cols = prediction
  auto expected = torch::tensor({{1, 1, 0, 0}, {0, 2, 1, 0}, {0, 0, 1, 0}, {0, 0, 0, 0}}, torch::kLong);
  EXPECT_TRUE(torch::equal(cm.counts(), expected));
  EXPECT_EQ(cm.total(), 6);
  const auto iou = cm.iou();
  EXPECT_DOUBLE_EQ(iou[0], 1.0 / 2.0);   // TP 1, FP 0, FN 1
  EXPECT_DOUBLE_EQ(iou[1], 2.0 / 4.0);   // TP 2, FP 1, FN 1
  EXPECT_DOUBLE_EQ(iou[2], 1.0 / 2.0);   // TP 1, FP 1, FN 0
  EXPECT_TRUE(std::isnan(iou[3]));       // absent: excluded from the mean
  EXPECT_DOUBLE_EQ(cm.mean_iou(), 0.5);
  const auto dice = cm.dice();
  EXPECT_DOUBLE_EQ(dice[0], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(dice[1], 4.0 / 6.0);
  EXPECT_DOUBLE_EQ(dice[2], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(cm.pixel_accuracy(), 4.0 / 6.0);
  EXPECT_DOUBLE_EQ(cm.recall()[1], 2.0 / 3.0);
}

TEST(ConfusionMatrix, PredictedButAbsentClassCountsAsZeroIoU) {
  // Class 2 is predicted but never true: IoU 0, and it lowers the mean (TP+FP+FN > 0).
  ConfusionMatrix cm(3);
  cm.update(torch::tensor({0, 2}, torch::kLong), torch::tensor({0, 0}, torch::kLong));
  EXPECT_DOUBLE_EQ(cm.iou()[0], 0.5);
  EXPECT_TRUE(std::isnan(cm.iou()[1]));
  EXPECT_DOUBLE_EQ(cm.iou()[2], 0.0);
  EXPECT_DOUBLE_EQ(cm.mean_iou(), 0.25);
}

TEST(ConfusionMatrix, DatasetLevelAccumulationDiffersFromMeanOfImages) {
  ConfusionMatrix a(2), b(2), all(2);
  auto t1 = torch::tensor({1, 1, 1, 1}, torch::kLong), p1 = torch::tensor({1, 1, 1, 0}, torch::kLong);
  auto t2 = torch::tensor({0, 1}, torch::kLong), p2 = torch::tensor({0, 0}, torch::kLong);
  a.update(p1, t1);
  b.update(p2, t2);
  all.update(torch::cat({p1, p2}), torch::cat({t1, t2}));
  a.merge(b);
  EXPECT_TRUE(torch::equal(a.counts(), all.counts()));
  EXPECT_DOUBLE_EQ(all.iou()[1], 3.0 / 5.0);
}

TEST(ConfusionMatrix, RejectsOutOfRangeTargets) {
  ConfusionMatrix cm(2);
  EXPECT_THROW(cm.update(torch::tensor({0}, torch::kLong), torch::tensor({5}, torch::kLong), 255),
               std::invalid_argument);
}

TEST(TopK, HandComputed) {
  auto logits = torch::tensor({{0.1, 0.5, 0.4}, {0.9, 0.05, 0.05}, {0.2, 0.3, 0.5}});
  auto target = torch::tensor({2, 0, 0}, torch::kLong);
  EXPECT_EQ(topk_correct(logits, target, 1), 1);  // only row 1
  EXPECT_EQ(topk_correct(logits, target, 2), 2);  // row 0 (0.4 is 2nd) and row 1
  EXPECT_DOUBLE_EQ(topk_accuracy(logits, target, 3), 1.0);
  EXPECT_DOUBLE_EQ(topk_accuracy(logits, target, 5), 1.0);  // k clamps to the class count
}

TEST(Losses, SoftDiceMatchesHandComputation) {
  // One image, 2 classes, 2 pixels; the second pixel is ignored.
  auto logits = torch::tensor({{{{0.0f, 0.0f}}, {{std::log(3.0f), 5.0f}}}});  // [1,2,1,2]
  auto target = torch::tensor({{{1, 255}}}, torch::kLong);                   // [1,1,2]
  // Pixel 0: p(class 1) = 3/4. Dice_1 = 2 * 0.75 / (0.75 + 1).
  const double dice = 2 * 0.75 / 1.75;
  auto loss = soft_dice_loss(logits, target, 255, 0.0);
  EXPECT_NEAR(loss.item<double>(), 1 - dice, 1e-6);
}

TEST(Losses, SegmentationLossIsCrossEntropyPlusDiceAndRespectsIgnore) {
  torch::manual_seed(0);
  auto logits = torch::randn({2, 3, 5, 4}, torch::requires_grad());
  auto target = torch::randint(0, 3, {2, 5, 4}, torch::kLong);
  target.index_put_({0, 0}, 255);
  SegLossOptions o;
  auto loss = segmentation_loss(logits, target, o);
  // Independent cross-entropy: log-softmax picked at the target, averaged over labelled pixels.
  auto logp = logits.log_softmax(1).permute({0, 2, 3, 1}).reshape({-1, 3});
  auto t = target.reshape(-1);
  auto keep = t.ne(255);
  auto ce = -logp.index({keep}).gather(1, t.index({keep}).unsqueeze(1)).mean();
  auto dice = soft_dice_loss(logits, target, 255, o.dice_smooth);
  EXPECT_NEAR(loss.item<double>(), (ce + dice).item<double>(), 1e-5);
  loss.backward();
  // Ignored pixels get no gradient.
  EXPECT_EQ(logits.grad().index({0, torch::indexing::Slice(), 0}).abs().max().item<float>(), 0.f);
}

TEST(Losses, AllIgnoredBatchGivesZeroNotNaN) {
  auto logits = torch::randn({1, 2, 3, 3}, torch::requires_grad());
  auto target = torch::full({1, 3, 3}, 255, torch::kLong);
  auto loss = segmentation_loss(logits, target, SegLossOptions());
  EXPECT_EQ(loss.item<float>(), 0.f);
  loss.backward();
  EXPECT_TRUE(logits.grad().defined());
}

TEST(Losses, ClassWeightsAndLabelSmoothing) {
  auto logits = torch::tensor({{2.0, 0.0}, {0.0, 1.0}});
  auto target = torch::tensor({0, 1}, torch::kLong);
  // Label smoothing eps: loss = (1-eps) * CE + eps * mean_k(-log p_k).
  const double eps = 0.2;
  auto logp = logits.log_softmax(1);
  const double ce = -(logp[0][0] + logp[1][1]).item<double>() / 2;
  const double uniform = -logp.mean(1).mean().item<double>();
  EXPECT_NEAR(classification_loss(logits, target, eps).item<double>(), (1 - eps) * ce + eps * uniform, 1e-6);
  // Weighted CE is a weighted mean: sum w_t * nll / sum w_t.
  SegLossOptions o;
  o.dice_weight = 0;
  o.class_weights = torch::tensor({1.0, 3.0});
  auto seg_logits = logits.t().reshape({1, 2, 1, 2});
  auto seg_target = target.reshape({1, 1, 2});
  const double nll0 = -logp[0][0].item<double>(), nll1 = -logp[1][1].item<double>();
  EXPECT_NEAR(segmentation_loss(seg_logits, seg_target, o).item<double>(), (1 * nll0 + 3 * nll1) / 4, 1e-6);
}
