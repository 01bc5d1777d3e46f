// Model zoo: seed parameter counts, U-Net shapes at any size, block structure, registry errors.
#include <gtest/gtest.h>
#include <skipzoo/models.h>

#include <functional>
#include <sstream>

namespace zoo = skipzoo::models;

namespace {
int64_t params_of(const std::string& name, const std::string& options = "{}", int64_t in = -1) {
  return zoo::count_parameters(zoo::create_model({name, -1, in, options}).module());
}
}  // namespace

TEST(SeedCounts, PreActivationUnit512) {
  // BN(512) + conv3x3 512->512 without bias: 1,024 + 2,359,296.
  EXPECT_EQ(zoo::count_parameters(*zoo::PreActUnit(512)), 2'360'320);
  EXPECT_EQ(params_of("preact_unit"), 2'360'320);
}

TEST(SeedCounts, PreActivationBottleneck512To128) {
  zoo::PreActBottleneck block(zoo::BlockOptions(512, 128));
  EXPECT_EQ(zoo::count_parameters(*block), 280'064);
  EXPECT_EQ(block->out_channels(), 512);
  EXPECT_EQ(params_of("preact_bottleneck"), 280'064);
}

TEST(SeedCounts, MlpWithAndWithoutBatchNorm) {
  // 1 input, 10 hidden layers of 20, 1 output: 40 + 9 * 420 + 21, plus 10 BN layers of 40.
  EXPECT_EQ(params_of("mlp", R"({"depth":10,"width":20})"), 3'841);
  EXPECT_EQ(params_of("mlp", R"({"depth":10,"width":20,"batchnorm":true})"), 4'241);
}

TEST(SeedCounts, CifarResNets) {
  // He et al. 2015 table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M with option A shortcuts.
  EXPECT_EQ(params_of("resnet20"), 269'722);
  EXPECT_EQ(params_of("resnet32"), 464'154);
  EXPECT_EQ(params_of("resnet56"), 853'018);
  EXPECT_EQ(params_of("resnet110"), 1'727'962);
}

struct UNetCase {
  std::string name, options;
};
void PrintTo(const UNetCase& c, std::ostream* os) { *os << c.name << " " << c.options; }

class UNetShapes : public ::testing::TestWithParam<UNetCase> {};

TEST_P(UNetShapes, OutputMatchesInputSizeInTrainAndEvalWithBackward) {
  const auto& c = GetParam();
  torch::manual_seed(0);
  auto model = zoo::create_model({c.name, 3, 2, c.options}, 0);
  for (bool training : {true, false}) {
    model.module().train(training);
    for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {7, 9}, {64, 64}, {97, 131}}) {
      auto x = torch::randn({2, 2, h, w});
      auto y = model.forward(x);
      ASSERT_EQ(y.sizes(), torch::IntArrayRef({2, 3, h, w})) << c.name << " " << c.options << " " << h << "x" << w;
      if (training && h == 7) {
        model.module().zero_grad();
        y.square().mean().backward();
        for (const auto& p : model.module().named_parameters()) {
          ASSERT_TRUE(p.value().grad().defined()) << p.key();
          ASSERT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllConfigurations, UNetShapes,
    ::testing::Values(UNetCase{"unet", R"({"depth":3,"base_width":4})"},
                      UNetCase{"unet", R"({"depth":4,"base_width":4,"upsampling":"transpose"})"},
                      UNetCase{"unet", R"({"depth":2,"base_width":4,"norm":"none"})"},
                      UNetCase{"unet", R"({"depth":3,"base_width":4,"upsampling":"transpose","norm":"none"})"},
                      UNetCase{"unet", R"({"depth":1,"base_width":2})"},
                      UNetCase{"unet_resnet18", R"({"decoder_widths":[16,8,8,4,4]})"},
                      UNetCase{"unet_resnet50", R"({"decoder_widths":[16,8,8,4,4],"norm":"none"})"}),
    [](const ::testing::TestParamInfo<UNetCase>& info) { return info.param.name + "_" + std::to_string(info.index); });

TEST(UNet, DefaultIsDepthFourWidth32AndKeysAreNested) {
  auto model = zoo::create_model({"unet"});
  auto sd = zoo::state_dict(model.module());
  EXPECT_EQ(sd.front().first, "down.0.conv1.weight");
  EXPECT_EQ(sd.back().first, "head.bias");
  EXPECT_EQ(model.config.options, R"({"base_width":32,"depth":4,"norm":"batch","upsampling":"bilinear"})");
}

// The head is a linear classifier: LibTorch's default init, bound 1/sqrt(fan_in), not He's
// fan-out init (std sqrt(2 / classes) = 1 for 2 classes), which made the initial logits ~10x too
// large. With unit-variance features the logits' std is about sqrt(32 x 0.5 x (1/32) / 3) = 0.41.
TEST(UNet, HeadKeepsTheDefaultLinearInit) {
  torch::manual_seed(0);
  auto model = zoo::create_model({"unet", 2, 1}, 0);
  auto head = model.module().named_parameters()["head.weight"];
  const double bound = 1.0 / std::sqrt(32.0);  // fan_in = base_width 32 x 1 x 1
  EXPECT_LE(head.abs().max().item<double>(), bound);
  EXPECT_GT(head.abs().max().item<double>(), 0.5 * bound);
  model.module().train();
  torch::NoGradGuard no_grad;
  const auto logits = model.forward(torch::randn({2, 1, 64, 64}));
  EXPECT_LT(logits.std().item<double>(), 1.0);
  EXPECT_GT(logits.std().item<double>(), 0.1);
}

TEST(UNetResNet, EncoderKeysAreTorchvisionKeysWithPrefix) {
  auto unet = zoo::create_model({"unet_resnet34"});
  auto resnet = zoo::create_model({"resnet34"});
  std::vector<std::string> encoder_keys, resnet_keys;
  for (const auto& kv : zoo::state_dict(unet.module())) {
    if (kv.first.rfind("encoder.", 0) == 0) encoder_keys.push_back(kv.first.substr(8));
  }
  for (const auto& kv : zoo::state_dict(resnet.module())) {
    if (kv.first.rfind("fc.", 0) != 0) resnet_keys.push_back(kv.first);
  }
  EXPECT_EQ(encoder_keys, resnet_keys);
}

TEST(Blocks, DownsampleOnlyWhereShapeChanges) {
  auto has_downsample = [](const torch::nn::Module& m) {
    for (const auto& kv : zoo::state_dict(m)) {
      if (kv.first.rfind("downsample.", 0) == 0) return true;
    }
    return false;
  };
  EXPECT_FALSE(has_downsample(*zoo::BasicBlock(zoo::BlockOptions(64, 64))));
  EXPECT_TRUE(has_downsample(*zoo::BasicBlock(zoo::BlockOptions(64, 64).stride(2))));
  EXPECT_TRUE(has_downsample(*zoo::Bottleneck(zoo::BlockOptions(64, 64))));    // 64 -> 256
  EXPECT_FALSE(has_downsample(*zoo::Bottleneck(zoo::BlockOptions(256, 64))));  // 256 -> 256
  auto y = zoo::Bottleneck(zoo::BlockOptions(64, 32).stride(2).groups(4).base_width(16))->forward(torch::randn({1, 64, 9, 9}));
  EXPECT_EQ(y.sizes(), torch::IntArrayRef({1, 128, 5, 5}));
}

TEST(Blocks, OptionAShortcutSubsamplesAndZeroPads) {
  zoo::PadShortcut pad(2, 6, 2);
  EXPECT_EQ(zoo::count_parameters(*pad), 0);
  auto x = torch::arange(2 * 4 * 4, torch::kFloat).reshape({1, 2, 4, 4});
  auto y = pad->forward(x);
  ASSERT_EQ(y.sizes(), torch::IntArrayRef({1, 6, 2, 2}));
  // Channels 0, 1, 4, 5 are zero; channels 2, 3 hold x[:, :, ::2, ::2].
  EXPECT_TRUE(y.index({0, 0}).eq(0).all().item<bool>());
  EXPECT_TRUE(y.index({0, 5}).eq(0).all().item<bool>());
  EXPECT_TRUE(torch::equal(y.index({0, 2}), torch::tensor({{0.f, 2.f}, {8.f, 10.f}})));
  EXPECT_TRUE(torch::equal(y.index({0, 3}), torch::tensor({{16.f, 18.f}, {24.f, 26.f}})));
}

TEST(Blocks, ZeroInitResidualMakesIdentityBlocks) {
  zoo::BasicBlock post(zoo::BlockOptions(8, 8));
  post->zero_init_residual();
  post->eval();
  auto x = torch::rand({2, 8, 5, 5});  // non-negative: relu(x + 0) == x
  EXPECT_TRUE(torch::allclose(post->forward(x), x));
  zoo::PreActBottleneck pre(zoo::BlockOptions(16, 4));
  pre->zero_init_residual();
  auto z = torch::randn({2, 16, 5, 5});
  EXPECT_TRUE(torch::allclose(pre->forward(z), z));
}

TEST(Blocks, PreActivationHasNoReluAfterTheAddition) {
  torch::manual_seed(0);
  zoo::PreActBasicBlock block(zoo::BlockOptions(8, 8));
  auto y = block->forward(torch::randn({4, 8, 6, 6}));
  EXPECT_LT(y.min().item<float>(), 0.f);
  zoo::BasicBlock post(zoo::BlockOptions(8, 8));
  EXPECT_GE(post->forward(torch::randn({4, 8, 6, 6})).min().item<float>(), 0.f);
}

TEST(ResNet, TorchvisionInitAndZeroInitResidual) {
  auto model = zoo::create_model({"resnet18", -1, -1, R"({"zero_init_residual":true})"}, 0);
  auto sd = zoo::state_dict(model.module());
  for (const auto& [key, t] : sd) {
    if (key == "layer1.0.bn2.weight") {
      EXPECT_TRUE(t.eq(0).all().item<bool>());
    }
    if (key == "layer1.0.bn1.weight") {
      EXPECT_TRUE(t.eq(1).all().item<bool>());
    }
    if (key == "conv1.weight") {
      // kaiming_normal, fan_out = 64 * 7 * 7: std = sqrt(2 / 3136) ~= 0.0253.
      EXPECT_NEAR(t.std().item<double>(), std::sqrt(2.0 / 3136.0), 0.0015);
    }
  }
}

// A block or network built directly starts as create_model makes it with the same seed, and
// that start is He init (fan_out, ReLU gain: std sqrt(2 / (out * k * k)), computed by hand here),
// not LibTorch's default uniform init.
TEST(Models, BuiltDirectlyEqualsCreateModelAndIsHeInitialised) {
  struct Case {
    std::string name;
    std::function<std::shared_ptr<torch::nn::Module>()> direct;
    std::string conv;  // a conv weight to check against He's std
    double fan_out;
  };
  const std::vector<Case> cases = {
      {"basic_block", [] { return zoo::BasicBlock(zoo::BlockOptions(64, 64)).ptr(); }, "conv1.weight", 64 * 9},
      {"bottleneck", [] { return zoo::Bottleneck(zoo::BlockOptions(256, 64)).ptr(); }, "conv3.weight", 256},
      {"preact_basic_block", [] { return zoo::PreActBasicBlock(zoo::BlockOptions(64, 64)).ptr(); }, "conv2.weight", 64 * 9},
      {"preact_bottleneck", [] { return zoo::PreActBottleneck(zoo::BlockOptions(512, 128)).ptr(); }, "conv2.weight", 128 * 9},
      {"preact_unit", [] { return zoo::PreActUnit(zoo::PreActUnitOptions(512)).ptr(); }, "conv1.weight", 512 * 9},
      {"resnet20", [] { return zoo::ResNet(zoo::resnet_options("resnet20")).ptr(); }, "layer3.2.conv2.weight", 64 * 9},
      {"unet", [] { return zoo::UNet(zoo::UNetOptions()).ptr(); }, "up.3.conv.conv1.weight", 32 * 9},
  };
  for (const auto& c : cases) {
    torch::manual_seed(5);
    const auto direct = zoo::state_dict(*c.direct());
    const auto made = zoo::state_dict(zoo::create_model({c.name}, 5).module());
    ASSERT_EQ(direct.size(), made.size()) << c.name;
    for (size_t i = 0; i < direct.size(); ++i) {
      EXPECT_EQ(direct[i].first, made[i].first) << c.name;
      EXPECT_TRUE(torch::equal(direct[i].second, made[i].second)) << c.name << " " << direct[i].first;
      if (direct[i].first == c.conv) {
        EXPECT_NEAR(direct[i].second.std().item<double>(), std::sqrt(2.0 / c.fan_out), 0.1 * std::sqrt(2.0 / c.fan_out))
            << c.name << " " << c.conv;
      }
      if (direct[i].first.find("bn") != std::string::npos && direct[i].first.size() > 7 &&
          direct[i].first.substr(direct[i].first.size() - 7) == ".weight") {
        EXPECT_TRUE(direct[i].second.eq(1).all().item<bool>()) << c.name << " " << direct[i].first;
      }
    }
  }
}

TEST(ResNet, FeatureStridesAndHeadlessForward) {
  zoo::ResNet net(zoo::resnet_options("resnet18").num_classes(0));
  auto f = net->features(torch::randn({1, 3, 64, 64}));
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(f[0].sizes(), torch::IntArrayRef({1, 64, 32, 32}));
  EXPECT_EQ(f[4].sizes(), torch::IntArrayRef({1, 512, 2, 2}));
  EXPECT_EQ(net->forward(torch::randn({1, 3, 64, 64})).sizes(), torch::IntArrayRef({1, 512}));
  EXPECT_EQ(net->num_blocks(), 8);
}

TEST(Registry, SeededCreationIsRepeatable) {
  auto a = zoo::create_model({"resnet20"}, 7), b = zoo::create_model({"resnet20"}, 7);
  auto c = zoo::create_model({"resnet20"}, 8);
  auto sa = zoo::state_dict(a.module()), sb = zoo::state_dict(b.module()), sc = zoo::state_dict(c.module());
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;
  EXPECT_FALSE(torch::equal(sa[0].second, sc[0].second));
}

TEST(Registry, EveryEntryBuildsWithResolvedOptions) {
  for (const auto& name : zoo::model_names()) {
    auto model = zoo::create_model({name});
    EXPECT_GT(model.config.in_channels, 0) << name;
    EXPECT_EQ(model.config.options.front(), '{') << name;
    // Re-creating from the resolved config gives the same model.
    auto again = zoo::create_model(model.config);
    EXPECT_EQ(again.config.options, model.config.options) << name;
    EXPECT_EQ(zoo::count_parameters(again.module()), zoo::count_parameters(model.module())) << name;
  }
}

TEST(Registry, ClearErrors) {
  auto message = [](const zoo::ModelConfig& c) {
    try {
      zoo::create_model(c);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({"resnet5"}).find("unknown model 'resnet5' (known: basic_block"), std::string::npos);
  EXPECT_NE(message({"unet", 2, 3, R"({"depht":3})"}).find("unknown option 'depht' (known: base_width, depth"),
            std::string::npos);
  EXPECT_NE(message({"unet", 2, 3, R"({"depth":"three"})"}).find("option 'depth' has the wrong type"),
            std::string::npos);
  EXPECT_NE(message({"unet", 2, 3, "{depth"}).find("not valid JSON"), std::string::npos);
  EXPECT_NE(message({"unet", 2, 3, R"({"norm":"group"})"}).find("unknown norm 'group'"), std::string::npos);
  EXPECT_NE(message({"preact_unit", 10}).find("takes no --classes"), std::string::npos);
  EXPECT_NE(message({"resnet18", 0}).find("classes must be >= 1"), std::string::npos);
}

TEST(Models, PrintingAModuleNamesItAndItsOptions) {
  const auto text = [](const torch::nn::Module& m) {
    std::ostringstream s;
    s << m;
    return s.str();
  };
  EXPECT_EQ(text(*zoo::BasicBlock(zoo::BlockOptions(16, 32).stride(2))).rfind(
                "skipzoo::models::BasicBlock(in_planes=16, planes=32, stride=2, norm=batch, shortcut=B)(\n  (conv1): "
                "torch::nn::Conv2d(16, 32, kernel_size=[3, 3], stride=[2, 2]",
                0),
            0u);
  EXPECT_EQ(text(*zoo::UNet(zoo::UNetOptions().depth(3))).rfind(
                "skipzoo::models::UNet(in_channels=3, classes=2, depth=3, base_width=32, upsampling=bilinear, norm=batch)",
                0),
            0u);
  const auto r20 = zoo::create_model({"resnet20"});
  EXPECT_EQ(text(r20.module()).rfind("skipzoo::models::ResNet(block=basic, layers=[3, 3, 3], widths=[16, 32, 64], "
                                     "stem=cifar, in_channels=3, num_classes=10, norm=batch, shortcut=A)",
                                     0),
            0u)
      << text(r20.module()).substr(0, 200);
}
