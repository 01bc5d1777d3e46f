// `skipzoo info`'s analyses: layer table (hand-computed MACs, torchvision's published totals,
// the seed's parameter counts), residual paths (exact binomials) and per-block variance.
#include <gtest/gtest.h>
#include <skipzoo/models.h>
#include <skipzoo/models/analysis.h>

namespace zoo = skipzoo::models;

namespace {

zoo::ModelSummary summary_of(const std::string& name, const std::string& options, std::vector<int64_t> input) {
  auto model = zoo::create_model({name, -1, -1, options}, 0);
  input.insert(input.begin(), 1);
  return zoo::summarize(model.net, input);
}

const zoo::LayerInfo& layer(const zoo::ModelSummary& s, const std::string& name) {
  for (const auto& l : s.layers) {
    if (l.name == name) return l;
  }
  throw std::runtime_error("no layer " + name);
}

// A Sequential with a plain forward, so that it fits in an AnyModule.
struct StackImpl : torch::nn::SequentialImpl {
  using SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return SequentialImpl::forward(x); }
};
TORCH_MODULE(Stack);

TEST(Summary, HandComputedLayers) {
  Stack seq(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)),  // 0
                            torch::nn::BatchNorm2d(8),                                         // 1
                            torch::nn::ReLU(),                                                 // 2
                            torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(8, 4, 2).stride(2)),  // 3
                            torch::nn::Flatten(),                                              // 4
                            torch::nn::Linear(4 * 20 * 20, 5));                                // 5
  seq->train();
  torch::nn::AnyModule net(seq);
  const auto s = zoo::summarize(net, {1, 3, 10, 10});
  ASSERT_EQ(s.layers.size(), 4u);  // ReLU and Flatten own nothing
  EXPECT_EQ(s.layers[0].name, "0");
  EXPECT_EQ(s.layers[0].type, "Conv2d");
  EXPECT_EQ(s.layers[0].output_shape, std::vector<int64_t>({1, 8, 10, 10}));
  EXPECT_EQ(s.layers[0].params, 8 * 3 * 9 + 8);
  EXPECT_EQ(s.layers[0].macs, 8 * 10 * 10 * 3 * 9);  // every output value: C_in * 3 * 3
  EXPECT_EQ(s.layers[1].type, "BatchNorm2d");
  EXPECT_EQ(s.layers[1].params, 16);
  EXPECT_EQ(s.layers[1].buffer_values, 8 + 8 + 1);
  EXPECT_EQ(s.layers[1].macs, 0);
  EXPECT_EQ(s.layers[2].name, "3");
  EXPECT_EQ(s.layers[2].output_shape, std::vector<int64_t>({1, 4, 20, 20}));
  EXPECT_EQ(s.layers[2].macs, 8 * 10 * 10 * 4 * 2 * 2);  // every input value meets C_out * 2 * 2 weights
  EXPECT_EQ(s.layers[3].macs, 5 * 1600);
  EXPECT_EQ(s.output_shape, std::vector<int64_t>({1, 5}));
  EXPECT_EQ(s.macs, 21'600 + 12'800 + 8'000);
  EXPECT_EQ(s.params, 224 + 16 + 8 * 4 * 4 + 4 + 1600 * 5 + 5);
  EXPECT_EQ(s.trainable_params, s.params);
  EXPECT_EQ(s.buffer_values, 17);
  // conv, BN and ReLU outputs (800 floats each), the transposed conv's (1600), the logits (5);
  // Flatten's output is a view.
  EXPECT_EQ(s.activation_bytes, 4 * (800 * 3 + 1600 + 5));
  EXPECT_TRUE(seq->is_training());  // restored after the eval-mode pass
}

TEST(Summary, TorchvisionPublishedResNetFigures) {
  // torchvision: resnet50 25,557,032 params, 4.09 "GFLOPS" (MACs of conv + linear layers);
  // resnet18 1.81. The exact counts come from forward hooks on torchvision's own models.
  const auto r50 = summary_of("resnet50", "{}", {3, 224, 224});
  EXPECT_EQ(r50.params, 25'557'032);
  EXPECT_EQ(r50.macs, 4'089'184'256);
  EXPECT_EQ(std::llround(r50.macs / 1e7), 409);
  EXPECT_EQ(layer(r50, "conv1").macs, 64LL * 112 * 112 * 3 * 7 * 7);
  EXPECT_EQ(layer(r50, "layer4.2.conv3").output_shape, std::vector<int64_t>({1, 2048, 7, 7}));
  EXPECT_EQ(layer(r50, "fc").macs, 2048 * 1000);
  EXPECT_EQ(r50.output_shape, std::vector<int64_t>({1, 1000}));
  const auto r18 = summary_of("resnet18", "{}", {3, 224, 224});
  EXPECT_EQ(r18.macs, 1'814'073'344);
  EXPECT_EQ(std::llround(r18.macs / 1e7), 181);
  int64_t rows = 0;
  for (const auto& l : r18.layers) rows += l.params;
  EXPECT_EQ(rows, r18.params);
}

TEST(Summary, SeedParameterCounts) {
  // 11.6: 1 input, 10 hidden layers of 20, 1 output; 11.8: the two blocks.
  EXPECT_EQ(summary_of("mlp", R"({"depth":10,"width":20})", {1}).params, 3'841);
  EXPECT_EQ(summary_of("mlp", R"({"depth":10,"width":20,"batchnorm":true})", {1}).params, 4'241);
  EXPECT_EQ(summary_of("preact_unit", "{}", {512, 8, 8}).params, 2'360'320);
  EXPECT_EQ(summary_of("preact_bottleneck", "{}", {512, 8, 8}).params, 280'064);
}

TEST(Summary, ManualBatchNormLayersAreAttributed) {
  const auto s = summary_of("unet", R"({"depth":2,"base_width":4,"norm":"manual"})", {3, 13, 17});
  EXPECT_EQ(layer(s, "down.0.bn1").type, "ManualBatchNorm2d");
  EXPECT_EQ(layer(s, "down.0.bn1").output_shape, std::vector<int64_t>({1, 4, 16, 20}));  // padded to 4
  EXPECT_EQ(s.output_shape, std::vector<int64_t>({1, 2, 13, 17}));
  for (const auto& l : s.layers) EXPECT_FALSE(l.output_shape.empty()) << l.name;
}

TEST(Summary, BadInputIsAClearError) {
  auto model = zoo::create_model({"resnet18"});
  try {
    zoo::summarize(model.net, {1, 4, 32, 32});
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("cannot run on an input of shape 1x4x32x32"), std::string::npos) << e.what();
  }
}

TEST(Summary, DefaultInputShapes) {
  EXPECT_EQ(zoo::default_input_shape(zoo::create_model({"resnet50"})), std::vector<int64_t>({3, 224, 224}));
  EXPECT_EQ(zoo::default_input_shape(zoo::create_model({"resnet20"})), std::vector<int64_t>({3, 32, 32}));
  EXPECT_EQ(zoo::default_input_shape(zoo::create_model({"preact_unit"})), std::vector<int64_t>({512, 32, 32}));
  EXPECT_EQ(zoo::default_input_shape(zoo::create_model({"mlp", 1, 4})), std::vector<int64_t>({4}));
}

TEST(ResidualPaths, SmallNetworksFromTheChapter) {
  const std::vector<std::vector<std::string>> expected = {
      {"1", "3", "3", "1"}, {"1", "4", "6", "4", "1"}, {"1", "5", "10", "10", "5", "1"}};
  for (int64_t k = 3; k <= 5; ++k) {
    const auto d = zoo::residual_paths(k);
    EXPECT_EQ(d.paths, expected[k - 3]);
    EXPECT_EQ(d.total, std::to_string(1 << k));
    EXPECT_DOUBLE_EQ(d.mean_length, k / 2.0);
    EXPECT_DOUBLE_EQ(d.share[1], static_cast<double>(k) / (1 << k));
  }
  const auto none = zoo::residual_paths(0);
  EXPECT_EQ(none.paths, std::vector<std::string>({"1"}));
  EXPECT_EQ(none.total, "1");
}

TEST(ResidualPaths, ExactForDeepNetworks) {
  const auto d50 = zoo::residual_paths(50);  // resnet152
  EXPECT_EQ(d50.total, "1125899906842624");  // 2^50
  EXPECT_EQ(d50.paths[25], "126410606437752");
  EXPECT_NEAR(d50.mean_length, 25.0, 1e-9);
  double sum = 0;
  for (double s : d50.share) sum += s;
  EXPECT_NEAR(sum, 1.0, 1e-12);
  const auto d100 = zoo::residual_paths(100);  // beyond 64 bits
  EXPECT_EQ(d100.total, "1267650600228229401496703205376");
  EXPECT_EQ(d100.paths[50], "100891344545564193334812497256");
  EXPECT_EQ(d100.paths[1], "100");
  EXPECT_EQ(d100.paths[99], "100");
  EXPECT_THROW(zoo::residual_paths(-1), std::invalid_argument);
}

TEST(ResidualPaths, BlocksOfZooModels) {
  auto k = [](const std::string& name) { return zoo::count_residual_blocks(zoo::create_model({name}).module()); };
  EXPECT_EQ(k("resnet18"), 8);
  EXPECT_EQ(k("resnet50"), 16);
  EXPECT_EQ(k("resnet152"), 50);
  EXPECT_EQ(k("resnet20"), 9);
  EXPECT_EQ(k("preact_resnet164"), 54);
  EXPECT_EQ(k("unet_resnet34"), 16);
  EXPECT_EQ(k("preact_unit"), 1);
  EXPECT_EQ(k("unet"), 0);
  EXPECT_EQ(k("mlp"), 0);
}

std::vector<zoo::BlockVariance> variances(const std::string& name, const std::string& options) {
  auto model = zoo::create_model({name, -1, -1, options}, 0);
  torch::manual_seed(1);
  const auto before = zoo::state_dict(model.module());
  auto rows = zoo::block_variances(model.net, torch::randn({8, 3, 32, 32}));
  const auto after = zoo::state_dict(model.module());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(torch::equal(before[i].second, after[i].second));
  return rows;
}

template <typename F>
void for_identity_blocks(const std::vector<zoo::BlockVariance>& rows, F f) {
  for (const auto& r : rows) {
    if (r.identity_shortcut()) f(r);
  }
}

// Growth of the variance over the 17 identity blocks of the first stage.
double first_stage_growth(const std::vector<zoo::BlockVariance>& rows) {
  EXPECT_EQ(rows[17].name, "layer1.17");
  return rows[17].output_variance / rows[1].input_variance;
}

TEST(BlockVariance, PreActivationWithoutNormDoublesPerBlock) {
  const auto rows = variances("preact_resnet110", R"({"norm":"none"})");
  ASSERT_EQ(rows.size(), 54u);
  EXPECT_EQ(rows[0].name, "layer1.0");
  EXPECT_EQ(rows[0].output_shape, std::vector<int64_t>({8, 16, 32, 32}));
  double log_sum = 0;
  int n = 0;
  // One block's ratio depends on its weights' draw (the branch's covariance with x): over seeds
  // 0..7 the blocks ranged 0.95..6.9, the geometric means 1.69..1.95, the first stage's growth
  // 850..2.8e6. The bounds below hold for all of them.
  for_identity_blocks(rows, [&](const zoo::BlockVariance& r) {
    const double ratio = r.output_variance / r.input_variance;
    EXPECT_GT(ratio, 0.9) << r.name;  // each branch adds variance of the order of its input's
    EXPECT_LT(ratio, 8.0) << r.name;
    log_sum += std::log(ratio);
    ++n;
  });
  EXPECT_EQ(n, 52);  // all but layer2.0 and layer3.0, which project the shortcut
  // Geometric mean over the identity blocks: 2 less what zero padding loses at the borders.
  EXPECT_GT(std::exp(log_sum / n), 1.6);
  EXPECT_LT(std::exp(log_sum / n), 2.1);
  EXPECT_GT(first_stage_growth(rows), std::pow(2.0, 9));  // exponential in depth (BN's: below 20)
}

TEST(BlockVariance, BatchNormMakesGrowthAdditive) {
  const auto rows = variances("preact_resnet110", "{}");
  // Each branch starts with BN, so it adds about the same variance whatever its input's:
  // linear growth, ~1 per block on average, instead of doubling. One block adds its branch's
  // variance plus twice its covariance with x, which its weights' draw decides: over seeds 0..7
  // single blocks added -0.17..2.3, the means over the blocks were 0.82..0.97.
  double added = 0;
  int n = 0;
  for_identity_blocks(rows, [&](const zoo::BlockVariance& r) {
    EXPECT_GT(r.output_variance - r.input_variance, -0.5) << r.name;
    EXPECT_LT(r.output_variance - r.input_variance, 2.5) << r.name;
    added += r.output_variance - r.input_variance;
    ++n;
  });
  EXPECT_GT(added / n, 0.7);
  EXPECT_LT(added / n, 1.2);
  EXPECT_LT(first_stage_growth(rows), 20.0);
  EXPECT_LT(rows[17].output_variance / rows[17].input_variance, 1.2);
}

TEST(BlockVariance, ZeroInitResidualBlocksAreIdentities) {
  for (const char* name : {"preact_resnet110", "resnet56", "resnet50"}) {
    const auto rows = variances(name, R"({"norm":"none","zero_init_residual":true})");
    for_identity_blocks(rows, [&](const zoo::BlockVariance& r) {
      EXPECT_NEAR(r.output_variance / r.input_variance, 1.0, 1e-6) << name << " " << r.name;
    });
  }
}

TEST(BlockVariance, SingleBlockAndErrors) {
  // He init: conv(ReLU(x)) has x's variance, less the borders' share (1 - 2/48)^2 at 16 x 16.
  auto block = zoo::create_model({"preact_unit", -1, 64, R"({"norm":"none"})"}, 0);
  torch::manual_seed(0);
  const auto rows = zoo::block_variances(block.net, torch::randn({8, 64, 16, 16}));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].name, "(root)");
  EXPECT_NEAR(rows[0].output_variance / rows[0].input_variance, 1.92, 0.2);
  auto unet = zoo::create_model({"unet", -1, -1, R"({"depth":1,"base_width":2})"});
  EXPECT_THROW(zoo::block_variances(unet.net, torch::randn({2, 3, 8, 8})), std::invalid_argument);
}

TEST(ScaleInvariance, WeightDecayShrinksWeightsNotOutputsWithBatchNorm) {
  zoo::ScaleInvarianceOptions o;
  o.steps = 45;  // 0.95^45 ~= 0.1
  auto run = [&](const std::string& norm) {
    auto model = zoo::create_model({"resnet20", -1, -1, R"({"norm":")" + norm + R"("})"}, 0);
    torch::manual_seed(0);
    return zoo::scale_invariance(model.net, torch::randn({8, 3, 16, 16}), o);
  };
  const auto bn = run("batch"), none = run("none");
  ASSERT_EQ(bn.size(), 46u);
  // SGD on (wd/2)||W||^2 multiplies W by (1 - lr * wd) per step.
  for (const auto& r : bn) {
    EXPECT_NEAR(r.conv_weight_norm, bn[0].conv_weight_norm * std::pow(0.95, r.step), 1e-4 * bn[0].conv_weight_norm);
  }
  EXPECT_LT(bn.back().conv_weight_norm, 0.1 * bn[0].conv_weight_norm);
  EXPECT_LT(bn.back().output_change, 2e-3);  // BN's eps matters once c^2 var(W x) nears it
  EXPECT_GT(none.back().output_change, 0.5);
}

}  // namespace
