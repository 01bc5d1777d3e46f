// Engine machinery: weight-decay groups, schedules, the weight average, checkpoints, progress formatting.
#include <gtest/gtest.h>
#include <skipzoo/models.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/checkpoint.h"
#include "engine/optim.h"
#include "engine/progress.h"
#include "engine/weight_average.h"

using namespace skipzoo::app;
namespace zoo = skipzoo::models;
namespace fs = std::filesystem;

TEST(Optimizer, WeightDecayOnlyOnConvAndLinearWeights) {
  auto model = zoo::create_model({"resnet20"}, 0);
  OptimizerOptions o;
  o.kind = OptimizerKind::SGD;
  o.weight_decay = 0.5;
  auto opt = make_optimizer(model.module(), o);
  ASSERT_EQ(opt->param_groups().size(), 2u);
  for (const auto& p : opt->param_groups()[0].params()) EXPECT_GT(p.dim(), 1);
  for (const auto& p : opt->param_groups()[1].params()) EXPECT_EQ(p.dim(), 1);  // BN scale/shift, fc bias
  EXPECT_EQ(opt->param_groups()[0].params().size() + opt->param_groups()[1].params().size(),
            model.module().parameters().size());
  // With zero gradients only decayed tensors move: a BN weight stays, a conv weight shrinks.
  auto conv = model.module().named_parameters()["conv1.weight"];
  auto bn = model.module().named_parameters()["bn1.weight"];
  const auto conv_before = conv.clone(), bn_before = bn.clone();
  for (auto& p : model.module().parameters()) p.mutable_grad() = torch::zeros_like(p);
  opt->step();
  EXPECT_TRUE(torch::equal(bn, bn_before));
  EXPECT_LT(conv.norm().item<double>(), conv_before.norm().item<double>());
}

TEST(Schedule, WarmupPolyCosine) {
  ScheduleOptions s;
  s.kind = ScheduleKind::Poly;
  s.warmup_steps = 4;
  EXPECT_DOUBLE_EQ(scheduled_lr(1.0, 0, 105, s), 0.25);
  EXPECT_DOUBLE_EQ(scheduled_lr(1.0, 3, 105, s), 1.0);
  EXPECT_DOUBLE_EQ(scheduled_lr(1.0, 4, 105, s), 1.0);
  EXPECT_NEAR(scheduled_lr(1.0, 54, 105, s), std::pow(0.5, 0.9), 1e-12);  // t = 50 / 100
  s.kind = ScheduleKind::Cosine;
  s.warmup_steps = 0;
  EXPECT_NEAR(scheduled_lr(2.0, 50, 101, s), 1.0, 1e-12);  // halfway: t = 50 / 100
  EXPECT_NEAR(scheduled_lr(2.0, 100, 100, s), 0.0, 1e-12);
  s.min_lr_fraction = 0.1;
  EXPECT_NEAR(scheduled_lr(2.0, 100, 100, s), 0.2, 1e-12);
  EXPECT_THROW(parse_schedule("step"), std::invalid_argument);
  EXPECT_EQ(parse_schedule(schedule_name(ScheduleKind::Poly)), ScheduleKind::Poly);
}

// The average by hand: a = d a + (1 - d) w with d = min(decay, (1 + t) / (10 + t)), over the
// parameters and BatchNorm's running statistics; the step count is left alone; two swaps restore.
TEST(WeightAverage, FollowsTheRecurrenceByHandAndSwapsBothWays) {
  torch::nn::Sequential model(torch::nn::Linear(1, 1), torch::nn::BatchNorm1d(1));
  auto w = model->named_parameters()["0.weight"];
  auto mean = model->named_buffers()["1.running_mean"];
  auto count = model->named_buffers()["1.num_batches_tracked"];
  torch::NoGradGuard no_grad;
  w.fill_(1.0);
  mean.fill_(0.0);
  WeightAverage average(*model, 0.5);
  // Steps 0..3: the warm-up factor (1 + t) / (10 + t) is 0.1, 2/11, 0.25, 4/13, all under 0.5.
  double a = 1.0, m = 0.0;
  const double values[] = {3.0, -1.0, 5.0, 2.0};
  for (int64_t t = 0; t < 4; ++t) {
    w.fill_(values[t]);
    mean.fill_(10.0 * values[t]);
    count.fill_(t + 1);
    average.update(t);
    const double d = std::min(0.5, (1.0 + t) / (10.0 + t));
    a = d * a + (1 - d) * values[t];
    m = d * m + (1 - d) * 10.0 * values[t];
  }
  // Linear's weight and bias, BatchNorm's weight and bias, its running mean and variance; not the count.
  ASSERT_EQ(average.tensors().size(), 6u);
  EXPECT_NEAR(average.tensors()[0].item<double>(), a, 1e-6);
  EXPECT_NEAR(average.tensors()[4].item<double>(), m, 1e-5);
  WeightAverage capped(*model, 0.2);
  w.fill_(0.0);
  capped.update(5);  // (1 + 5) / 15 = 0.4 > 0.2: the decay applies
  EXPECT_NEAR(capped.tensors()[0].item<double>(), 0.2 * 2.0, 1e-6);

  average.swap();  // the average in the model, the live weights held
  EXPECT_NEAR(w.item<double>(), a, 1e-6);
  EXPECT_NEAR(mean.item<double>(), m, 1e-5);
  EXPECT_EQ(count.item<int64_t>(), 4);
  average.swap();
  EXPECT_EQ(w.item<double>(), 0.0);
  EXPECT_EQ(mean.item<double>(), 20.0);
  EXPECT_NEAR(average.tensors()[0].item<double>(), a, 1e-6);
  EXPECT_THROW(WeightAverage(*model, 1.0), std::invalid_argument);
}

TEST(Checkpoint, RoundTripRestoresWeightsOptimizerAndPosition) {
  const auto dir = fs::temp_directory_path() / ("skipzoo_ckpt_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto path = (dir / "last.ckpt").string();
  auto a = zoo::create_model({"resnet20"}, 1);
  OptimizerOptions o;
  auto opt_a = make_optimizer(a.module(), o);
  a.module().train();
  for (int i = 0; i < 2; ++i) {  // give AdamW some state
    a.module().zero_grad();
    a.forward(torch::randn({4, 3, 16, 16})).sum().backward();
    opt_a->step();
  }
  CheckpointState s;
  s.config_json = R"({"model":"resnet20"})";
  s.epoch = 3;
  s.batch = 7;
  s.step = 97;
  s.best_metric = 0.5;
  s.best_epoch = 2;
  s.history_json = R"([{"epoch":1}])";
  // A weight average of tensors of different shapes: each comes back as itself, in order.
  const std::vector<torch::Tensor> average = {torch::arange(6.0).reshape({2, 3}), torch::full({5}, 7.0)};
  save_checkpoint(path, s, a.module(), opt_a.get(), average);
  EXPECT_TRUE(is_checkpoint(path));

  auto b = zoo::create_model({"resnet20"}, 2);
  auto opt_b = make_optimizer(b.module(), o);
  CheckpointReader reader(path);
  EXPECT_EQ(reader.state().config_json, s.config_json);
  EXPECT_EQ(reader.state().epoch, 3);
  EXPECT_EQ(reader.state().batch, 7);
  EXPECT_EQ(reader.state().step, 97);
  EXPECT_EQ(reader.state().best_epoch, 2);
  EXPECT_EQ(reader.state().history_json, s.history_json);
  const auto average_back = reader.weight_average();
  ASSERT_EQ(average_back.size(), 2u);
  EXPECT_TRUE(torch::equal(average_back[0], average[0]));
  EXPECT_TRUE(torch::equal(average_back[1], average[1]));
  reader.load_model(b.module());
  reader.load_optimizer(*opt_b);
  auto sa = zoo::state_dict(a.module()), sb = zoo::state_dict(b.module());
  for (size_t i = 0; i < sa.size(); ++i) ASSERT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;
  // The same next step from both gives the same weights: the optimizer state came back.
  torch::manual_seed(5);
  auto x = torch::randn({4, 3, 16, 16});
  for (auto [m, opt] : {std::pair{&a, opt_a.get()}, std::pair{&b, opt_b.get()}}) {
    m->module().zero_grad();
    m->forward(x).sum().backward();
    opt->step();
  }
  sa = zoo::state_dict(a.module());
  sb = zoo::state_dict(b.module());
  for (size_t i = 0; i < sa.size(); ++i) ASSERT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;
}

TEST(Checkpoint, BadFilesAndOtherArchitectures) {
  const auto dir = fs::temp_directory_path() / ("skipzoo_ckpt_bad_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto message = [](const std::string& path) {
    try {
      CheckpointReader r(path);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message((dir / "none.ckpt").string()).find("no such file"), std::string::npos);
  std::ofstream(dir / "junk.ckpt") << "junk";
  EXPECT_NE(message((dir / "junk.ckpt").string()).find("cannot read it"), std::string::npos);
  auto m = zoo::create_model({"resnet20"});
  zoo::save_state_dict(m.module(), (dir / "weights.pt").string());
  EXPECT_FALSE(is_checkpoint((dir / "weights.pt").string()));

  const auto path = (dir / "r20.ckpt").string();
  save_checkpoint(path, CheckpointState(), m.module(), nullptr);
  auto other = zoo::create_model({"resnet20", 7});  // another head: same names, other shapes
  CheckpointReader reader(path);
  try {
    reader.load_model(other.module());
    FAIL() << "loading into another architecture must fail";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("another shape"), std::string::npos) << e.what();
  }
  auto unet = zoo::create_model({"unet"});
  EXPECT_THROW(reader.load_model(unet.module()), std::runtime_error);
}

TEST(Progress, DurationFormat) {
  EXPECT_EQ(format_duration(0), "00:00");
  EXPECT_EQ(format_duration(83), "01:23");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(-1), "--:--");
}
