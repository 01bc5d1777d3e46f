// The fused BatchNorm + residual + ReLU of training against torch::batch_norm, `+` and
// torch::relu computed in double (output, running statistics, every gradient), in both layouts;
// the same for the form with a normalised shortcut, alone and inside a Bottleneck; the
// fallbacks, the module wrapper's bookkeeping and thread-count independence.
#include <gtest/gtest.h>
#include <skipzoo/models/batch_norm_relu.h>
#include <skipzoo/models/blocks.h>
#include <skipzoo/models/norm.h>

#include <tuple>

namespace zoo = skipzoo::models;

namespace {

struct Result {
  torch::Tensor y, dx, dgamma, dbeta, dresidual, running_mean, running_var;
};

struct Inputs {
  torch::Tensor x, gamma, beta, residual, upstream, running_mean, running_var;
};

// Conv outputs far from zero mean (offset 40, spread 3), a zero and negative scales.
Inputs make_inputs(const std::vector<int64_t>& shape, bool channels_last, bool with_residual) {
  torch::manual_seed(7);
  const int64_t C = shape[1];
  Inputs in;
  const auto format = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  in.x = (torch::randn(shape) * 3 + 40).contiguous(format);
  in.gamma = torch::randn({C});
  in.gamma[0] = 0;
  in.beta = torch::randn({C});
  // The residual in the other layout: the kernels convert it.
  const auto other = channels_last ? at::MemoryFormat::Contiguous : at::MemoryFormat::ChannelsLast;
  if (with_residual) in.residual = torch::randn(shape).contiguous(other);
  in.upstream = torch::randn(shape);
  in.running_mean = torch::rand({C});
  in.running_var = torch::rand({C}) + 0.5;
  return in;
}

// Fused (float) when `fused`, else the separate ops in double: the reference.
Result run(const Inputs& in, bool fused) {
  auto cast = [&](const torch::Tensor& t) {
    return !t.defined() ? t : fused ? t.clone() : t.to(torch::kDouble);
  };
  auto x = cast(in.x).requires_grad_(), gamma = cast(in.gamma).requires_grad_(), beta = cast(in.beta).requires_grad_();
  auto residual = cast(in.residual);
  if (residual.defined()) residual.requires_grad_();
  auto rm = cast(in.running_mean), rv = cast(in.running_var);
  torch::Tensor y;
  if (fused) {
    y = zoo::batch_norm_relu_train(x, gamma, beta, residual, rm, rv, 0.1, 1e-5);
    // The fused node ran, not the separate ops (which would pass every comparison too).
    EXPECT_NE(y.grad_fn()->name().find("BatchNormReLU"), std::string::npos) << y.grad_fn()->name();
  } else {
    y = torch::batch_norm(x, gamma, beta, rm, rv, true, 0.1, 1e-5, false);
    if (residual.defined()) y = y + residual;
    y = torch::relu(y);
  }
  (y * cast(in.upstream)).sum().backward();
  auto d = [](const torch::Tensor& t) { return t.defined() ? t.to(torch::kDouble) : t; };
  return {d(y.detach()), d(x.grad()), d(gamma.grad()), d(beta.grad()), residual.defined() ? d(residual.grad()) : torch::Tensor(),
          d(rm), d(rv)};
}

double rel_err(const torch::Tensor& a, const torch::Tensor& ref) {
  return ((a - ref).abs().max() / ref.abs().max().clamp_min(1e-12)).item<double>();
}

using Case = std::tuple<std::vector<int64_t>, bool, bool>;  // shape, channels-last, residual
class BatchNormReLUCases : public ::testing::TestWithParam<Case> {};

TEST_P(BatchNormReLUCases, EqualsBatchNormPlusResidualThenReLUInDouble) {
  const auto& [shape, channels_last, with_residual] = GetParam();
  const auto in = make_inputs(shape, channels_last, with_residual);
  const auto got = run(in, true), want = run(in, false);
  EXPECT_LT(rel_err(got.y, want.y), 1e-5);
  EXPECT_LT(rel_err(got.running_mean, want.running_mean), 1e-6);
  EXPECT_LT(rel_err(got.running_var, want.running_var), 1e-5);
  EXPECT_LT(rel_err(got.dx, want.dx), 1e-4);
  EXPECT_LT(rel_err(got.dgamma, want.dgamma), 1e-4);
  EXPECT_LT(rel_err(got.dbeta, want.dbeta), 1e-5);
  if (with_residual) {
    EXPECT_LT(rel_err(got.dresidual, want.dresidual), 1e-6);
  }
  EXPECT_GT(want.dx.abs().max().item<double>(), 1e-3);                      // not a comparison of zeros
  EXPECT_GT((want.y == 0).sum().item<int64_t>(), 0);                         // ReLU's clamp is exercised
  EXPECT_EQ(channels_last, got.y.is_contiguous(at::MemoryFormat::ChannelsLast) && !got.y.is_contiguous());
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, BatchNormReLUCases,
    ::testing::Combine(::testing::Values(std::vector<int64_t>{4, 8, 5, 7},      // small planes; 8 rows of 8 at a time, a short last one
                                         std::vector<int64_t>{2, 33, 9, 3},     // odd channel count
                                         std::vector<int64_t>{2, 24, 7, 5},     // channels-last rows taken 2 at a time
                                         std::vector<int64_t>{3, 16, 48, 48}),  // planes beyond one float block
                       ::testing::Bool(), ::testing::Bool()));

TEST(BatchNormReLU, SameBitsWithOneOrTwoThreads) {
  for (const bool channels_last : {true, false}) {
    const auto in = make_inputs({8, 24, 20, 20}, channels_last, true);
    const int threads = at::get_num_threads();
    at::set_num_threads(1);
    const auto one = run(in, true);
    at::set_num_threads(2);
    const auto two = run(in, true);
    at::set_num_threads(threads);
    EXPECT_TRUE(torch::equal(one.y, two.y));
    EXPECT_TRUE(torch::equal(one.dx, two.dx));
    EXPECT_TRUE(torch::equal(one.dgamma, two.dgamma));
    EXPECT_TRUE(torch::equal(one.running_var, two.running_var));
  }
}

TEST(BatchNormReLU, FrozenScaleNoRunningStatisticsAndAResidualWithoutGradient) {
  const auto in = make_inputs({3, 5, 6, 7}, true, true);
  auto x = in.x.clone().requires_grad_();
  auto xd = in.x.to(torch::kDouble).requires_grad_();
  const auto y = zoo::batch_norm_relu_train(x, in.gamma, in.beta, in.residual, {}, {}, 0.1, 1e-5);
  const auto want = torch::relu(torch::batch_norm(xd, in.gamma.to(torch::kDouble), in.beta.to(torch::kDouble), {}, {},
                                                  true, 0.1, 1e-5, false) +
                                in.residual.to(torch::kDouble));
  (y * in.upstream).sum().backward();
  (want * in.upstream.to(torch::kDouble)).sum().backward();
  EXPECT_LT(rel_err(y.detach().to(torch::kDouble), want.detach()), 1e-5);
  EXPECT_LT(rel_err(x.grad().to(torch::kDouble), xd.grad()), 1e-4);
}

TEST(BatchNormReLU, NoSecondDerivativeIsAnErrorNotZeros) {
  const auto in = make_inputs({2, 3, 4, 4}, false, false);
  auto x = in.x.clone().requires_grad_();
  const auto y = zoo::batch_norm_relu_train(x, in.gamma, in.beta, {}, {}, {}, 0.1, 1e-5);
  EXPECT_THROW(torch::autograd::grad({(y * in.upstream).sum()}, {x}, {}, c10::nullopt, /*create_graph=*/true),
               c10::Error);
}

TEST(BatchNormReLU, AnEmptyBatchPassesAsInBatchNorm2d) {
  const auto in = make_inputs({2, 3, 4, 4}, false, false);
  EXPECT_EQ(zoo::batch_norm_relu_train(torch::zeros({0, 3, 4, 4}), in.gamma, in.beta, {}, {}, {}, 0.1, 1e-5).numel(), 0);
}

TEST(BatchNormReLU, NaNStaysNaNAsTorchRelu) {
  auto in = make_inputs({2, 3, 4, 4}, false, false);
  in.x[1][2][3][3] = std::numeric_limits<float>::quiet_NaN();
  const auto y = zoo::batch_norm_relu_train(in.x, in.gamma, in.beta, {}, {}, {}, 0.1, 1e-5);
  EXPECT_TRUE(y.select(1, 2).isnan().all().item<bool>());  // the channel's statistics are NaN
  EXPECT_FALSE(y.select(1, 1).isnan().any().item<bool>());
}

TEST(BatchNormReLU, TheGradientPassesWhereTheOutputIsNaNAsInThresholdBackward) {
  auto in = make_inputs({2, 3, 4, 4}, true, true);
  in.residual[0][1][2][2] = std::numeric_limits<float>::quiet_NaN();
  const auto got = run(in, true), want = run(in, false);
  EXPECT_TRUE(std::isnan(got.y[0][1][2][2].item<double>()));
  EXPECT_DOUBLE_EQ(got.dresidual[0][1][2][2].item<double>(), want.dresidual[0][1][2][2].item<double>());
  EXPECT_NE(got.dresidual[0][1][2][2].item<double>(), 0.0);
}

TEST(BatchNormReLU, OtherInputsGoThroughTheSeparateOps) {
  auto in = make_inputs({2, 3, 4, 4}, false, true);
  // Double: the separate ops, so the same bits as them.
  auto xd = in.x.to(torch::kDouble), gd = in.gamma.to(torch::kDouble), bd = in.beta.to(torch::kDouble);
  auto rd = in.residual.to(torch::kDouble);
  const auto want = torch::relu(torch::batch_norm(xd, gd, bd, {}, {}, true, 0.1, 1e-5, false) + rd);
  EXPECT_TRUE(torch::equal(zoo::batch_norm_relu_train(xd, gd, bd, rd, {}, {}, 0.1, 1e-5), want));
  // One value per channel: torch::nn::BatchNorm2d's error, not an infinite running variance.
  auto one = torch::randn({1, 3, 1, 1});
  EXPECT_THROW(zoo::batch_norm_relu_train(one, in.gamma, in.beta, {}, {}, {}, 0.1, 1e-5), c10::Error);
  EXPECT_THROW(zoo::batch_norm_relu_train(one.to(torch::kDouble), gd, bd, {}, {}, {}, 0.1, 1e-5), c10::Error);
}

TEST(NormReLU, BatchNormModuleKeepsItsBookkeeping) {
  torch::manual_seed(3);
  const auto x = torch::randn({4, 6, 5, 5}).contiguous(at::MemoryFormat::ChannelsLast);
  for (const bool cumulative : {false, true}) {
    auto options = torch::nn::BatchNormOptions(6);
    if (cumulative) options.momentum(c10::nullopt);
    torch::nn::BatchNorm2d fused_bn(options), plain_bn(options);
    torch::nn::AnyModule fused(fused_bn);
    for (int step = 0; step < 3; ++step) {
      const auto y = zoo::norm_relu(fused, x * (step + 1));
      const auto want = torch::relu(plain_bn->forward(x * (step + 1)));
      EXPECT_LT((y - want).abs().max().item<double>(), 1e-5);
    }
    EXPECT_EQ(fused_bn->num_batches_tracked.item<int64_t>(), 3);
    EXPECT_LT((fused_bn->running_mean - plain_bn->running_mean).abs().max().item<double>(), 1e-5);
    EXPECT_LT((fused_bn->running_var - plain_bn->running_var).abs().max().item<double>(), 1e-4);
    // Evaluation mode: the module's forward with the running statistics.
    fused_bn->eval();
    EXPECT_TRUE(torch::equal(zoo::norm_relu(fused, x), torch::relu(fused_bn->forward(x))));
  }
}

TEST(NormReLU, ANormThatReturnsItsInputLeavesTheCallersTensorAlone) {
  torch::nn::AnyModule none(zoo::make_norm2d(zoo::Norm::None, 3));
  const auto x = torch::randn({2, 3, 4, 4}), before = x.clone();
  const auto r = torch::randn({2, 3, 4, 4});
  EXPECT_TRUE(torch::equal(zoo::norm_relu(none, x, r), torch::relu(before + r)));
  EXPECT_TRUE(torch::equal(x, before));
}

// ---- relu(BN(x) + BN_s(shortcut)): a projection's norm in the same node ----------------------

// A BatchNorm2d with random parameters and running statistics.
torch::nn::BatchNorm2d random_batch_norm(int64_t channels) {
  torch::nn::BatchNorm2d bn(channels);
  torch::NoGradGuard no_grad;
  bn->weight.copy_(torch::randn({channels}));
  bn->weight[0] = 0;
  bn->bias.copy_(torch::randn({channels}));
  bn->running_mean.copy_(torch::rand({channels}));
  bn->running_var.copy_(torch::rand({channels}) + 0.5);
  return bn;
}

torch::nn::BatchNorm2d float_copy(const torch::nn::BatchNorm2d& bn) {
  return torch::nn::BatchNorm2d(std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(bn->clone()));
}

torch::nn::BatchNorm2d double_copy(const torch::nn::BatchNorm2d& bn) {
  auto copy = float_copy(bn);
  copy->to(torch::kDouble);
  return copy;
}

// The fused two-norm node, not the one-norm node with BN_s(shortcut) as its residual (which would
// pass every comparison too). A node has an edge for each tensor it was given: x, weight, bias,
// the two running statistics and the shortcut's five here; the one-norm node has 6.
void expect_two_norm_node(const torch::Tensor& y) {
  const auto& fn = y.grad_fn();
  ASSERT_NE(fn->name().find("BatchNormReLU"), std::string::npos) << fn->name();
  EXPECT_EQ(fn->next_edges().size(), 10u);
  EXPECT_TRUE(fn->next_edge(5).is_valid());  // the shortcut
}

struct ShortcutRun {
  torch::Tensor y, dx, ds;
  torch::nn::BatchNorm2d bn, sbn;
};

// relu(bn(x0) + sbn(s0)) and its backward against `upstream`: fused (float, through the two-norm
// norm_relu) or the reference (double copies of the modules, their own forward).
ShortcutRun run_shortcut(const torch::Tensor& x0, const torch::Tensor& s0, const torch::Tensor& upstream,
                         const torch::nn::BatchNorm2d& bn0, const torch::nn::BatchNorm2d& sbn0, bool fused) {
  ShortcutRun r{{}, {}, {}, fused ? float_copy(bn0) : double_copy(bn0), fused ? float_copy(sbn0) : double_copy(sbn0)};
  const auto dtype = fused ? torch::kFloat : torch::kDouble;
  auto x = x0.to(dtype, false, true).requires_grad_(), s = s0.to(dtype, false, true).requires_grad_();
  if (fused) {
    torch::nn::AnyModule norm(r.bn), shortcut_norm(r.sbn);
    r.y = zoo::norm_relu(norm, x, shortcut_norm, s);
    expect_two_norm_node(r.y);
  } else {
    r.y = torch::relu(r.bn->forward(x) + r.sbn->forward(s));
  }
  (r.y * upstream.to(dtype)).sum().backward();
  r.y = r.y.detach();
  r.dx = x.grad();
  r.ds = s.grad();
  return r;
}

using ShortcutCase = std::tuple<std::vector<int64_t>, bool>;  // shape, channels-last
class NormReLUShortcutCases : public ::testing::TestWithParam<ShortcutCase> {};

// Conv outputs far from zero mean; the shortcut in the other layout (the kernels convert it).
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> shortcut_inputs(const std::vector<int64_t>& shape,
                                                                        bool channels_last) {
  const auto format = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  const auto other = channels_last ? at::MemoryFormat::Contiguous : at::MemoryFormat::ChannelsLast;
  return {(torch::randn(shape) * 3 + 40).contiguous(format), (torch::randn(shape) * 2 - 10).contiguous(other),
          torch::randn(shape)};
}

TEST_P(NormReLUShortcutCases, EqualsTwoBatchNormsAddedThenReLUInDouble) {
  const auto& [shape, channels_last] = GetParam();
  torch::manual_seed(11);
  const auto [x0, s0, upstream] = shortcut_inputs(shape, channels_last);
  const auto bn = random_batch_norm(shape[1]), sbn = random_batch_norm(shape[1]);
  const auto got = run_shortcut(x0, s0, upstream, bn, sbn, true), want = run_shortcut(x0, s0, upstream, bn, sbn, false);

  auto err = [](const torch::Tensor& a, const torch::Tensor& ref) { return rel_err(a.to(torch::kDouble), ref); };
  EXPECT_LT(err(got.y, want.y), 1e-5);
  EXPECT_LT(err(got.dx, want.dx), 1e-4);
  EXPECT_LT(err(got.ds, want.ds), 1e-4);
  for (const auto& [mine, ref] : {std::pair{got.bn, want.bn}, std::pair{got.sbn, want.sbn}}) {
    EXPECT_LT(err(mine->weight.grad(), ref->weight.grad()), 1e-4);
    EXPECT_LT(err(mine->bias.grad(), ref->bias.grad()), 1e-5);
    EXPECT_LT(err(mine->running_mean, ref->running_mean), 1e-6);
    EXPECT_LT(err(mine->running_var, ref->running_var), 1e-5);
    EXPECT_EQ(mine->num_batches_tracked.item<int64_t>(), 1);
  }
  // Two parameters, two gradient tensors (an optimizer may change one in place).
  EXPECT_NE(got.bn->bias.grad().data_ptr(), got.sbn->bias.grad().data_ptr());
  EXPECT_GT(want.ds.abs().max().item<double>(), 1e-3);
  EXPECT_GT((want.y == 0).sum().item<int64_t>(), 0);
  EXPECT_EQ(channels_last, got.y.is_contiguous(at::MemoryFormat::ChannelsLast) && !got.y.is_contiguous());
}

INSTANTIATE_TEST_SUITE_P(Layouts, NormReLUShortcutCases,
                         ::testing::Combine(::testing::Values(std::vector<int64_t>{4, 8, 5, 7},   // short last row
                                                              std::vector<int64_t>{2, 33, 9, 3},  // odd channels
                                                              std::vector<int64_t>{3, 16, 48, 48}),
                                            ::testing::Bool()));

TEST(NormReLU, TheTwoNormFormGivesTheSameBitsWithOneOrTwoThreads) {
  for (const bool channels_last : {true, false}) {
    torch::manual_seed(12);
    const auto [x0, s0, upstream] = shortcut_inputs({8, 24, 20, 20}, channels_last);
    const auto bn = random_batch_norm(24), sbn = random_batch_norm(24);
    const int threads = at::get_num_threads();
    at::set_num_threads(1);
    const auto one = run_shortcut(x0, s0, upstream, bn, sbn, true);
    at::set_num_threads(2);
    const auto two = run_shortcut(x0, s0, upstream, bn, sbn, true);
    at::set_num_threads(threads);
    EXPECT_TRUE(torch::equal(one.y, two.y));
    EXPECT_TRUE(torch::equal(one.dx, two.dx));
    EXPECT_TRUE(torch::equal(one.ds, two.ds));
    EXPECT_TRUE(torch::equal(one.sbn->weight.grad(), two.sbn->weight.grad()));
    EXPECT_TRUE(torch::equal(one.sbn->running_var, two.sbn->running_var));
  }
}

TEST(NormReLU, OnlyTheShortcutsGradientWhenOnlyItIsNeeded) {
  torch::manual_seed(13);
  const auto [x0, s0, upstream] = shortcut_inputs({2, 6, 5, 5}, true);
  auto bn = random_batch_norm(6), sbn = random_batch_norm(6);
  const auto want = run_shortcut(x0, s0, upstream, bn, sbn, false);
  // x needs no gradient, nor do the shortcut norm's parameters (frozen): only the shortcut does.
  sbn->weight.requires_grad_(false);
  sbn->bias.requires_grad_(false);
  auto s = s0.clone().requires_grad_();
  torch::nn::AnyModule norm(bn), shortcut_norm(sbn);
  const auto y = zoo::norm_relu(norm, x0, shortcut_norm, s);
  expect_two_norm_node(y);
  (y * upstream).sum().backward();
  ASSERT_TRUE(s.grad().defined());
  EXPECT_LT(rel_err(s.grad().to(torch::kDouble), want.ds), 1e-4);
  EXPECT_LT(rel_err(bn->weight.grad().to(torch::kDouble), want.bn->weight.grad()), 1e-4);
}

TEST(NormReLU, AShortcutNormTheKernelsDoNotTakeRunsOnItsOwn) {
  // A training BatchNorm2d with a shortcut norm that is not one: the one-norm node, with the
  // shortcut norm's output as its residual.
  torch::manual_seed(4);
  const auto bn = random_batch_norm(6);
  auto fused = float_copy(bn), reference = double_copy(bn);
  torch::nn::AnyModule norm(fused), none(zoo::make_norm2d(zoo::Norm::None, 6));
  const auto x0 = torch::randn({2, 6, 4, 4}) + 3, s0 = torch::randn({2, 6, 4, 4}), upstream = torch::randn({2, 6, 4, 4});
  auto x = x0.clone().requires_grad_(), s = s0.clone().requires_grad_();
  const auto y = zoo::norm_relu(norm, x, none, s);
  EXPECT_EQ(y.grad_fn()->next_edges().size(), 6u);  // the one-norm node: s came in as its residual
  EXPECT_TRUE(y.grad_fn()->next_edge(3).is_valid());
  (y * upstream).sum().backward();
  auto xd = x0.to(torch::kDouble).requires_grad_(), sd = s0.to(torch::kDouble).requires_grad_();
  const auto want = torch::relu(reference->forward(xd) + sd);
  (want * upstream.to(torch::kDouble)).sum().backward();
  EXPECT_LT(rel_err(y.detach().to(torch::kDouble), want.detach()), 1e-5);
  EXPECT_LT(rel_err(x.grad().to(torch::kDouble), xd.grad()), 1e-4);
  EXPECT_LT(rel_err(s.grad().to(torch::kDouble), sd.grad()), 1e-6);
}

TEST(NormReLU, ABottleneckWithAProjectionTrainsAsItsSeparateOpsInDouble) {
  torch::manual_seed(9);
  zoo::Bottleneck block(zoo::BlockOptions(32, 16).stride(2));
  ASSERT_FALSE(block->downsample.is_empty());
  for (auto& p : block->named_parameters()) {
    torch::NoGradGuard no_grad;
    if (p.key().find("bn") != std::string::npos || p.key().find("downsample.1") != std::string::npos) {
      p.value().normal_(p.key().find("weight") != std::string::npos ? 1.0 : 0.0, 0.5);
    }
  }
  auto twin = std::dynamic_pointer_cast<zoo::BottleneckImpl>(block->clone());
  twin->to(torch::kDouble);
  const auto x0 = torch::randn({4, 32, 10, 10}).contiguous(at::MemoryFormat::ChannelsLast);
  auto x = x0.clone().requires_grad_(), xd = x0.to(torch::kDouble).requires_grad_();
  const auto y = block->forward(x), want = twin->forward(xd);  // double: the separate ops
  expect_two_norm_node(y);
  EXPECT_NE(y.grad_fn()->next_edge(5).function->name().find("Convolution"), std::string::npos)  // the projection
      << y.grad_fn()->next_edge(5).function->name();
  const auto upstream = torch::randn(y.sizes());
  (y * upstream).sum().backward();
  (want * upstream.to(torch::kDouble)).sum().backward();
  EXPECT_LT(rel_err(y.detach().to(torch::kDouble), want.detach()), 1e-5);
  EXPECT_LT(rel_err(x.grad().to(torch::kDouble), xd.grad()), 1e-4);
  const auto theirs = twin->named_parameters();
  for (const auto& p : block->named_parameters()) {
    EXPECT_LT(rel_err(p.value().grad().to(torch::kDouble), theirs[p.key()].grad()), 1e-4) << p.key();
  }
  const auto their_buffers = twin->named_buffers();
  for (const auto& b : block->named_buffers()) {
    EXPECT_LT((b.value().to(torch::kDouble) - their_buffers[b.key()]).abs().max().item<double>(), 1e-5) << b.key();
  }
}

}  // namespace
