// The fused 2x bilinear upsampling + concatenation against torch::upsample_bilinear2d and
// torch::cat computed in double (output and both gradients), at sizes with every border case;
// thread-count independence, the fallbacks, and that a U-Net's decoder runs it.
#include <gtest/gtest.h>
#include <skipzoo/models/unet.h>
#include <skipzoo/models/upsample_cat.h>

#include <limits>
#include <set>
#include <tuple>

namespace zoo = skipzoo::models;

namespace {

struct Grads {
  torch::Tensor y, dx, dskip;
};

const auto kChannelsLast = at::MemoryFormat::ChannelsLast;

// The fused op in float when `fused`, else the ATen ops in double: the reference.
Grads run(const torch::Tensor& x0, const torch::Tensor& skip0, const torch::Tensor& upstream, bool fused) {
  auto cast = [&](const torch::Tensor& t) { return (fused ? t.clone() : t.to(torch::kDouble)).requires_grad_(); };
  auto x = cast(x0), skip = cast(skip0);
  torch::Tensor y;
  if (fused) {
    y = zoo::upsample_cat(x, skip);
    EXPECT_NE(y.grad_fn()->name().find("UpsampleCat"), std::string::npos) << y.grad_fn()->name();
  } else {
    y = torch::cat({torch::upsample_bilinear2d(x, {2 * x.size(2), 2 * x.size(3)}, false), skip}, 1);
  }
  (y * upstream.to(y.scalar_type())).sum().backward();
  auto d = [](const torch::Tensor& t) { return t.to(torch::kDouble); };
  return {d(y.detach()), d(x.grad()), d(skip.grad())};
}

double max_err(const torch::Tensor& a, const torch::Tensor& ref) { return (a - ref).abs().max().item<double>(); }

using Case = std::tuple<std::vector<int64_t>, int64_t>;  // x's (N, C, H, W), skip channels
class UpsampleCatCases : public ::testing::TestWithParam<Case> {};

TEST_P(UpsampleCatCases, EqualsUpsampleBilinearThenCatInDouble) {
  const auto& [shape, skip_channels] = GetParam();
  torch::manual_seed(5);
  const auto x = torch::randn(shape).contiguous(kChannelsLast);
  const auto skip = torch::randn({shape[0], skip_channels, 2 * shape[2], 2 * shape[3]}).contiguous(kChannelsLast);
  const auto upstream = torch::randn({shape[0], shape[1] + skip_channels, 2 * shape[2], 2 * shape[3]});
  const auto got = run(x, skip, upstream, true), want = run(x, skip, upstream, false);
  EXPECT_LT(max_err(got.y, want.y), 1e-6);
  EXPECT_LT(max_err(got.dx, want.dx), 1e-5);
  EXPECT_TRUE(torch::equal(got.dskip, want.dskip));  // a copy: exact
  EXPECT_TRUE(got.y.is_contiguous(kChannelsLast));
  EXPECT_GT(want.dx.abs().max().item<double>(), 1.0);  // not a comparison of zeros
}

INSTANTIATE_TEST_SUITE_P(Shapes, UpsampleCatCases,
                         ::testing::Values(Case{{2, 8, 6, 5}, 8},    // every border case, odd width
                                           Case{{1, 3, 1, 1}, 2},    // one pixel: all four taps on it
                                           Case{{2, 5, 1, 4}, 1},    // one row
                                           Case{{3, 64, 16, 16}, 32}));

TEST(UpsampleCat, HandComputedValuesOfOneRow) {
  // x = [0, 4] (1x2): ATen's align_corners=false gives [0, 1, 3, 4] on every output row.
  const auto x = torch::tensor({0.f, 4.f}).view({1, 1, 1, 2}).contiguous(kChannelsLast);
  const auto skip = torch::full({1, 1, 2, 4}, 7.f).contiguous(kChannelsLast);
  const auto y = zoo::upsample_cat(x, skip);
  const auto want = torch::tensor({0.f, 1.f, 3.f, 4.f}).expand({2, 4});
  EXPECT_TRUE(torch::equal(y[0][0], want));
  EXPECT_TRUE(torch::equal(y[0][1], torch::full({2, 4}, 7.f)));
}

TEST(UpsampleCat, SameBitsWithOneOrTwoThreads) {
  torch::manual_seed(6);
  const auto x = torch::randn({4, 16, 12, 10}).contiguous(kChannelsLast);
  const auto skip = torch::randn({4, 8, 24, 20}).contiguous(kChannelsLast);
  const auto upstream = torch::randn({4, 24, 24, 20});
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto one = run(x, skip, upstream, true);
  at::set_num_threads(2);
  const auto two = run(x, skip, upstream, true);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one.y, two.y));
  EXPECT_TRUE(torch::equal(one.dx, two.dx));
  EXPECT_TRUE(torch::equal(one.dskip, two.dskip));
}

TEST(UpsampleCat, OneInputNeedingAGradientGetsItAlone) {
  torch::manual_seed(9);
  const auto x0 = torch::randn({2, 4, 3, 5}).contiguous(kChannelsLast);
  const auto s0 = torch::randn({2, 3, 6, 10}).contiguous(kChannelsLast);
  const auto upstream = torch::randn({2, 7, 6, 10});
  const auto want = run(x0, s0, upstream, false);
  for (const bool x_needs : {true, false}) {
    auto x = x0.clone().requires_grad_(x_needs), skip = s0.clone().requires_grad_(!x_needs);
    (zoo::upsample_cat(x, skip) * upstream).sum().backward();
    if (x_needs) {
      EXPECT_LT(max_err(x.grad().to(torch::kDouble), want.dx), 1e-5);
      EXPECT_FALSE(skip.grad().defined());
    } else {
      EXPECT_TRUE(torch::equal(skip.grad().to(torch::kDouble), want.dskip));
      EXPECT_FALSE(x.grad().defined());
    }
  }
}

TEST(UpsampleCat, ANaNGradientSpreadsAsInATen) {
  const auto x = torch::randn({1, 2, 3, 3}).contiguous(kChannelsLast);
  const auto skip = torch::randn({1, 1, 6, 6}).contiguous(kChannelsLast);
  auto upstream = torch::randn({1, 3, 6, 6});
  upstream[0][0][0][0] = std::numeric_limits<float>::quiet_NaN();  // output 0 also weighs input 1 by 0
  const auto got = run(x, skip, upstream, true), want = run(x, skip, upstream, false);
  EXPECT_TRUE(torch::equal(got.dx.isnan(), want.dx.isnan()));
  EXPECT_TRUE(got.dx.isnan().any().item<bool>());
}

TEST(UpsampleCat, OtherInputsGoThroughTheATenOps) {
  torch::manual_seed(8);
  const auto x = torch::randn({2, 3, 4, 5}), skip = torch::randn({2, 2, 8, 10});
  auto reference = [](const torch::Tensor& a, const torch::Tensor& s) {
    auto up = torch::upsample_bilinear2d(a, {2 * a.size(2), 2 * a.size(3)}, false);
    return s.defined() ? torch::cat({up, s}, 1) : up;
  };
  auto not_fused = [](const torch::Tensor& y) {
    return y.grad_fn() == nullptr || y.grad_fn()->name().find("UpsampleCat") == std::string::npos;
  };
  EXPECT_TRUE(torch::equal(zoo::upsample_cat(x, skip), reference(x, skip)));  // contiguous
  const auto xg = x.contiguous(kChannelsLast).requires_grad_();
  EXPECT_TRUE(not_fused(zoo::upsample_cat(xg, skip)));  // a contiguous skip with channels-last x
  EXPECT_TRUE(torch::equal(zoo::upsample_cat(xg, skip), reference(xg, skip)));
  const auto xd = x.to(torch::kDouble).contiguous(kChannelsLast), sd = skip.to(torch::kDouble);
  EXPECT_TRUE(torch::equal(zoo::upsample_cat(xd, sd), reference(xd, sd)));  // double
  const auto xc = x.contiguous(kChannelsLast);
  EXPECT_TRUE(torch::equal(zoo::upsample_cat(xc, {}), reference(xc, {})));  // no skip
  EXPECT_THROW(zoo::upsample_cat(xc, torch::randn({2, 2, 7, 10})), c10::Error);  // ATen's size error
}

TEST(UpsampleCat, ABilinearUNetDecoderRunsIt) {
  torch::manual_seed(2);
  zoo::UNet net(zoo::UNetOptions().in_channels(3).classes(2).depth(2).base_width(4));
  // Channels-last input: the convolutions keep the layout, so the decoder's inputs are in it.
  const auto y = net->forward(torch::randn({2, 3, 16, 16}).contiguous(kChannelsLast));
  int fused_nodes = 0;
  std::vector<torch::autograd::Node*> stack{y.grad_fn().get()};
  std::set<torch::autograd::Node*> visited;
  while (!stack.empty()) {
    auto* node = stack.back();
    stack.pop_back();
    if (node == nullptr || !visited.insert(node).second) continue;
    fused_nodes += node->name().find("UpsampleCat") != std::string::npos;
    for (const auto& edge : node->next_edges()) stack.push_back(edge.function.get());
  }
  EXPECT_EQ(fused_nodes, 2);  // one a decoder level
}

}  // namespace
