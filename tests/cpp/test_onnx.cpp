// ONNX export written node by node from C++: every registered model passes onnx::checker and runs
// in OpenCV DNN (from C++) with LibTorch's eval-mode outputs; U-Nets with `dynamic` shapes pad and
// crop inside the graph; what the writer cannot express fails before any file is written;
// skipzoo.json and the state_dict names are in the file.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/dnn.hpp>
#include <skipzoo/models.h>
#include <skipzoo/models/onnx.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "onnx_reference.h"
#include "test_util.h"

namespace zoo = skipzoo::models;
namespace fs = std::filesystem;
using json = nlohmann::json;
using skipzoo::test::error_of;

namespace {

struct OnnxCase {
  std::string id;  // the model name, or name/variant
  zoo::ModelConfig config;
  std::string shapes;                        // parse_onnx_shapes() text
  std::vector<std::vector<int64_t>> inputs;  // full input shapes, all through one exported file
  int64_t opset = 13;
};

void PrintTo(const OnnxCase& c, std::ostream* os) { *os << c.id; }

using Shapes = std::vector<std::vector<int64_t>>;

// Small inputs (and widths, where the registry has options for them); ImageNet ResNets cannot be
// made narrower, so their cost is mostly their weights.
OnnxCase default_case(const std::string& name) {
  const auto& entry = zoo::find_model(name);
  if (!entry.image_input) return {name, {name, 3, 5, R"({"depth": 3, "width": 16})"}, "dynamic", {{1, 5}, {4, 5}}};
  if (name == "unet") {  // `multiple`: H and W multiples of 2^depth = 16, what OpenCV runs
    return {name, {name, 2, 3, R"({"base_width": 8})"}, "multiple", {{2, 3, 16, 32}, {1, 3, 48, 16}}};
  }
  if (entry.task == "segmentation") {  // unet_resnet*: multiples of 32
    return {name, {name, 2, 3, R"({"decoder_widths": [32, 16, 16, 8, 8]})"}, "multiple", {{1, 3, 32, 64}, {2, 3, 64, 32}}};
  }
  if (entry.task == "classification") return {name, {name, -1, 3}, "dynamic", {{1, 3, 32, 32}, {2, 3, 45, 61}}};
  if (name == "preact_unit") return {name, {name, -1, 8}, "dynamic", {{2, 8, 9, 9}, {1, 8, 7, 12}}};
  return {name, {name, -1, 16, R"({"planes": 8, "stride": 2})"}, "dynamic", {{2, 16, 9, 9}, {1, 16, 7, 12}}};
}

std::vector<OnnxCase> onnx_cases() {
  std::vector<OnnxCase> cases;
  for (const auto& name : zoo::model_names()) cases.push_back(default_case(name));
  const Shapes cls{{1, 3, 32, 32}, {2, 3, 45, 61}};
  cases.push_back({"resnet20/static", {"resnet20", 10, 3}, "static:32x32", {{2, 3, 32, 32}}});
  cases.push_back({"resnet18/no-norm-shortcut-A", {"resnet18", 5, 3, R"({"norm": "none", "shortcut": "A"})"}, "multiple", cls});
  cases.push_back({"resnet50/dilated", {"resnet50", 7, 3, R"({"replace_stride_with_dilation": [false, true, true]})"}, "dynamic", {{1, 3, 32, 32}}});
  cases.push_back({"resnet20/projection-shortcut", {"resnet20", 4, 1, R"({"shortcut": "B"})"}, "dynamic", {{2, 1, 17, 23}}});
  cases.push_back({"resnet20/manual-norm-opset17", {"resnet20", 10, 3, R"({"norm": "manual"})"}, "dynamic", {{2, 3, 17, 23}}, 17});
  cases.push_back({"preact_resnet18/one-channel-static", {"preact_resnet18", 10, 1}, "static:17x23", {{2, 1, 17, 23}}});
  cases.push_back({"unet/transpose-depth2-no-norm-static",
                   {"unet", 3, 2, R"({"depth": 2, "base_width": 8, "upsampling": "transpose", "norm": "none"})"},
                   "static:8x12", {{2, 2, 8, 12}}});
  cases.push_back({"unet/manual-norm-opset17", {"unet", 2, 3, R"({"depth": 3, "base_width": 8, "norm": "manual"})"},
                   "multiple", {{1, 3, 24, 16}}, 17});
  cases.push_back({"unet_resnet18/one-channel-static", {"unet_resnet18", 4, 1, R"({"decoder_widths": [64, 32, 16, 16, 8]})"},
                   "static:64x96", {{1, 1, 64, 96}}});
  cases.push_back({"mlp/batchnorm", {"mlp", 2, 6, R"({"depth": 4, "width": 12, "norm": "batch"})"}, "multiple", {{1, 6}, {9, 6}}});
  cases.push_back({"mlp/manual-norm", {"mlp", 2, 6, R"({"depth": 3, "width": 12, "norm": "manual"})"}, "dynamic", {{3, 6}}});
  cases.push_back({"basic_block/shortcut-A", {"basic_block", -1, 8, R"({"planes": 16, "stride": 2, "shortcut": "A"})"},
                   "multiple", {{2, 8, 9, 9}, {1, 8, 7, 12}}});
  cases.push_back({"preact_basic_block/shortcut-A-static", {"preact_basic_block", -1, 8, R"({"planes": 16, "stride": 2, "shortcut": "A"})"},
                   "static:9x9", {{2, 8, 9, 9}}});
  cases.push_back({"bottleneck/grouped-dilated", {"bottleneck", -1, 32, R"({"planes": 8, "groups": 4, "base_width": 16, "dilation": 2})"},
                   "dynamic", {{2, 32, 9, 9}}});
  cases.push_back({"preact_bottleneck/identity", {"preact_bottleneck", -1, 32, R"({"planes": 8})"}, "dynamic", {{2, 32, 9, 9}}});
  return cases;
}

fs::path scratch_root() { return fs::temp_directory_path() / ("skipzoo_onnx_" + std::to_string(::getpid())); }

// The exports of a whole model family take gigabytes: each test process removes its scratch
// folder when it ends (ctest runs every test in a process of its own), or a few runs fill /tmp.
class ScratchCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(scratch_root(), ec);
  }
};
[[maybe_unused]] const auto* const kScratchCleanup = ::testing::AddGlobalTestEnvironment(new ScratchCleanup);

fs::path scratch_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "_" + info->name();
  for (auto& ch : name) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  auto dir = scratch_root() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Running statistics from a batch of random inputs (momentum 1) and random affine parameters:
// every layer then sees unit-scale activations, so 1e-4 means the same 150 layers deep as at the
// top (random statistics gave resnet152 logits of 1e7, statistics from 1x1 feature maps gave
// resnet18 logits of 270), and a swapped weight/bias/mean/var shows.
void calibrate_norms(zoo::Model& model, std::vector<int64_t> input) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(1);
  for (const auto& m : model.module().modules()) {
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) bn->options.momentum(1.0);
    else if (auto* bn1 = m->as<torch::nn::BatchNorm1d>()) bn1->options.momentum(1.0);
    else if (auto* mbn = m->as<zoo::ManualBatchNorm2d>()) mbn->options.momentum(1.0);
    else if (auto* mbn1 = m->as<zoo::ManualBatchNorm1d>()) mbn1->options.momentum(1.0);
    else continue;
    auto params = m->named_parameters(false);
    params["weight"].copy_(torch::rand(params["weight"].sizes()) * 0.5 + 0.75);
    params["bias"].copy_(torch::randn(params["bias"].sizes()) * 0.1);
  }
  // Batch 4 at 96 x 96 at least: statistics over enough values even after a stride of 32.
  input[0] = 4;
  for (size_t i = 2; i < input.size(); ++i) input[i] = std::max<int64_t>(input[i], 96);
  model.module().train();
  model.forward(torch::randn(input));
  model.module().eval();
  // Channels that barely vary (after ReLU, deep down) would divide rounding noise by sqrt(1e-5):
  // resnet152 then differed by 8e-4 between two correct implementations.
  for (const auto& m : model.module().modules()) {
    if (auto* var = m->named_buffers(false).find("running_var")) var->clamp_min_(0.1);
  }
}

zoo::Model calibrated_model(const OnnxCase& c) {
  auto model = zoo::create_model(c.config, 0);
  calibrate_norms(model, c.inputs.at(0));
  return model;
}

torch::Tensor run_opencv(cv::dnn::Net& net, const torch::Tensor& x) {
  auto in = x.contiguous();
  const std::vector<int> dims(in.sizes().begin(), in.sizes().end());
  // A copy that OpenCV owns: setInput keeps the Mat header after `in` is gone.
  net.setInput(cv::Mat(static_cast<int>(dims.size()), dims.data(), CV_32F, in.data_ptr<float>()).clone());
  const cv::Mat out = net.forward();
  return torch::from_blob(const_cast<float*>(out.ptr<float>()), std::vector<int64_t>(out.size.p, out.size.p + out.dims),
                          torch::kFloat32).clone();
}

}  // namespace

class OnnxParity : public ::testing::TestWithParam<OnnxCase> {};

TEST_P(OnnxParity, CheckedFileRunsInOpenCvWithLibTorchsOutputs) {
  const auto& c = GetParam();
  auto model = calibrated_model(c);
  const auto path = (scratch_dir() / "model.onnx").string();
  zoo::OnnxOptions options;
  options.shapes = zoo::parse_onnx_shapes(c.shapes);
  options.opset = c.opset;
  zoo::export_onnx(model, path, options);

  const auto info = zoo::inspect_onnx(path);  // onnx::checker again, on the file as written
  EXPECT_EQ(info.opset, c.opset);
  EXPECT_FALSE(info.float16);
  ASSERT_EQ(info.inputs, std::vector<std::string>{"input"});
  ASSERT_EQ(info.outputs, std::vector<std::string>{"logits"});
  EXPECT_EQ(info.input_params.at(0), "batch");
  EXPECT_EQ(info.output_params.at(0), "batch");
  for (const auto& k : info.conv_kernel_shapes) EXPECT_EQ(k.size(), 2u) << c.id << ": a conv without kernel_shape";
  // Float initialisers are exactly the state_dict's float tensors, by name; the graph's own
  // constants (pads, slice bounds, resize scales) are named "const::...".
  std::set<std::string> expected, got;
  for (const auto& [key, t] : zoo::state_dict(model.module())) {
    if (t.is_floating_point()) expected.insert(key);
  }
  for (const auto& name : info.float_initializers) {
    if (name.rfind("const::", 0) != 0) got.insert(name);
  }
  EXPECT_EQ(got, expected) << c.id;
  for (const auto& name : info.other_initializers) EXPECT_EQ(name.rfind("const::", 0), 0u) << name;
  EXPECT_EQ(std::count(info.op_types.begin(), info.op_types.end(), "Shape"), 0) << c.id << ": shape arithmetic";

  auto net = cv::dnn::readNetFromONNX(path);
  c10::InferenceMode guard;
  torch::manual_seed(2);
  for (const auto& shape : c.inputs) {
    const auto x = torch::randn(shape);
    const auto expected_y = model.forward(x);
    const auto y = run_opencv(net, x);
    ASSERT_EQ(y.sizes(), expected_y.sizes()) << c.id << " input " << x.sizes();
    EXPECT_GT(expected_y.abs().max().item<double>(), 1e-2) << c.id << ": outputs too small to compare";
    const double diff = (y - expected_y).abs().max().item<double>();
    if (diff > 1e-4) {
      // 100+ layers: float32 rounding alone separates two correct implementations by more than
      // 1e-4. Then OpenCV must be no further from a float64 evaluation than LibTorch's float32 is.
      model.module().to(torch::kFloat64);
      const auto exact = model.forward(x.to(torch::kFloat64)).to(torch::kFloat32);
      model.module().to(torch::kFloat32);
      const double opencv_error = (y - exact).abs().max().item<double>();
      const double libtorch_error = (expected_y - exact).abs().max().item<double>();
      std::cout << "[ onnx     ] " << c.id << ": float64 reference, error OpenCV " << opencv_error << ", LibTorch "
                << libtorch_error << "\n";
      EXPECT_LE(opencv_error, std::max(1e-4, 2 * libtorch_error)) << c.id << " input " << x.sizes();
    }
    std::cout << "[ onnx     ] " << c.id << " " << x.sizes() << ": max |OpenCV - LibTorch| = " << diff << ", largest |output| " << expected_y.abs().max().item<double>() << "\n";
  }
}

INSTANTIATE_TEST_SUITE_P(OnnxEveryModel, OnnxParity, ::testing::ValuesIn(onnx_cases()),
                         [](const ::testing::TestParamInfo<OnnxCase>& info) {
                           std::string id = info.param.id;
                           for (auto& ch : id) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return id;
                         });

TEST(Onnx, EveryRegisteredModelHasACaseWithTwoInputSizes) {
  std::set<std::string> covered;
  for (const auto& c : onnx_cases()) {
    std::set<std::vector<int64_t>> sizes;
    for (const auto& s : c.inputs) sizes.insert(std::vector<int64_t>(s.begin() + 1, s.end()));
    if (sizes.size() >= 2 || !zoo::find_model(c.config.name).image_input) covered.insert(c.config.name);
  }
  for (const auto& name : zoo::model_names()) EXPECT_TRUE(covered.count(name)) << name;
}

// `dynamic` U-Nets pad to a multiple of 2^depth and crop back inside the graph (Shape, Slice, Pad
// arithmetic: ONNX Runtime, not OpenCV). No runtime on this platform runs them, so the graph that
// export_onnx writes runs in the reference evaluator (onnx_reference.h) at odd sizes.
TEST(Onnx, DynamicUNetsPadAndCropInsideTheGraph) {
  const std::vector<std::pair<zoo::ModelConfig, Shapes>> nets = {
      {{"unet", 2, 3, R"({"depth": 3, "base_width": 8})"}, {{1, 3, 37, 53}, {2, 3, 1, 1}, {1, 3, 16, 24}}},
      {{"unet", 3, 2, R"({"depth": 2, "base_width": 8, "upsampling": "transpose", "norm": "none"})"}, {{2, 2, 5, 3}}},
      {{"unet_resnet18", 2, 1, R"({"decoder_widths": [32, 16, 16, 8, 8]})"}, {{1, 1, 37, 53}, {1, 1, 33, 64}}}};
  const auto dir = scratch_dir();
  for (const auto& [config, inputs] : nets) {
    auto model = zoo::create_model(config, 0);
    calibrate_norms(model, {1, config.in_channels, 32, 32});
    zoo::OnnxOptions options;
    options.shapes = zoo::parse_onnx_shapes("dynamic");
    zoo::export_onnx(model, (dir / "dynamic.onnx").string(), options);
    const auto info = zoo::inspect_onnx((dir / "dynamic.onnx").string());
    for (const char* op : {"Shape", "Pad", "Slice"}) {
      EXPECT_NE(std::find(info.op_types.begin(), info.op_types.end(), op), info.op_types.end()) << config.name << " " << op;
    }
    EXPECT_EQ(info.op_types.back(), "Slice") << "the crop comes last";
    EXPECT_EQ(info.input_params, (std::vector<std::string>{"batch", "", "height", "width"}));
    EXPECT_EQ(info.output_params, (std::vector<std::string>{"batch", "", "height", "width"}));
    EXPECT_EQ(json::parse(info.metadata.at(zoo::kOnnxMetadataKey))["onnx"]["runtimes"], "onnxruntime");

    const auto graph = zoo::onnx_graph(model, options);
    c10::InferenceMode guard;
    for (const auto& shape : inputs) {
      const auto x = torch::randn(shape);
      const auto expected = model.forward(x);
      const auto y = skipzoo::testing::run_onnx_reference(graph, x);
      ASSERT_EQ(y.sizes(), expected.sizes()) << config.name << " " << x.sizes();
      EXPECT_LE((y - expected).abs().max().item<double>(), 1e-4) << config.name << " " << x.sizes();
    }
  }
}

TEST(Onnx, WhatTheWriterCannotExpressFailsNamingTheModuleWithoutAFile) {
  const auto dir = scratch_dir();
  const auto path = (dir / "x.onnx").string();
  auto unet = zoo::create_model({"unet", 2, 3, R"({"depth": 2, "base_width": 4})"}, 0);
  auto unet_resnet = zoo::create_model({"unet_resnet18", 2, 3, R"({"decoder_widths": [8, 8, 8, 8, 8]})"}, 0);
  auto mlp = zoo::create_model({"mlp", 2, 3}, 0);
  zoo::Model dropout{{"custom", 2, 3}, "classification", torch::nn::AnyModule(torch::nn::Dropout(0.5))};
  auto with = [](const std::string& shapes, int64_t opset = 13, const std::string& meta = "{}") {
    zoo::OnnxOptions o;
    o.shapes = zoo::parse_onnx_shapes(shapes);
    o.opset = opset;
    o.metadata_json = meta;
    return o;
  };
  const std::vector<std::tuple<zoo::Model*, zoo::OnnxOptions, std::vector<std::string>>> bad = {
      {&unet, with("static:37x53"), {"the model (UNet)", "static:37x53", "multiples of 4", "dynamic", "ONNX Runtime"}},
      {&unet_resnet, with("static:48x48"), {"(UNetResNet)", "multiples of 32"}},
      {&mlp, with("static:8x8"), {"mlp", "image inputs"}},
      {&unet, with("multiple", 12), {"opset 12", "13..17"}},
      {&unet, with("multiple", 18), {"opset 18"}},
      {&unet, with("multiple", 13, R"({"onnx": 1})"), {"'onnx' is written by skipzoo"}},
      {&dropout, with("dynamic"), {"no ONNX twin", "Dropout"}}};
  for (const auto& [model, options, expected] : bad) {
    std::string msg;
    try {
      zoo::export_onnx(*model, path, options);
      msg = "(no error)";
    } catch (const std::invalid_argument& e) {
      msg = e.what();
    }
    for (const auto& part : expected) EXPECT_NE(msg.find(part), std::string::npos) << part << " in: " << msg;
  }
  EXPECT_TRUE(fs::is_empty(dir));
  // An UpBlock alone has a skip input that its single-input twin cannot get: named by its path.
  zoo::OnnxGraph g({}, 13);
  zoo::UpBlock up(8, 4, 4, zoo::Upsampling::Bilinear);
  EXPECT_NE(error_of([&] { zoo::to_onnx(g, *up, "input", "up.0."); }).find("module 'up.0' (UpBlock)"), std::string::npos);
  EXPECT_NE(error_of([] { zoo::parse_onnx_shapes("static:0x4"); }).find("static:HxW"), std::string::npos);
  EXPECT_NE(error_of([] { zoo::parse_onnx_shapes("fixed"); }).find("unknown ONNX shapes"), std::string::npos);
  // An unwritable destination (its folder is a file): ExportError naming it, nothing left.
  std::ofstream(dir / "file") << "x";
  const auto target = (dir / "file" / "x.onnx").string();
  const auto msg = error_of<zoo::ExportError>([&] { zoo::export_onnx(mlp, target); });
  EXPECT_NE(msg.find(target), std::string::npos) << msg;
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST(Onnx, MetadataPropsHoldSkipzooJson) {
  auto model = zoo::create_model({"unet", 3, 1, R"({"depth": 2, "base_width": 4})"}, 0);
  const auto path = (scratch_dir() / "seg.onnx").string();
  zoo::OnnxOptions options;
  options.shapes = zoo::parse_onnx_shapes("multiple");
  options.metadata_json = R"({"class_names": ["background", "cell", "edge"], "tile": 128, "note": "kept"})";
  zoo::export_onnx(model, path, options);
  const auto info = zoo::inspect_onnx(path);
  EXPECT_EQ(info.producer, "skipzoo");
  EXPECT_EQ(info.ir_version, 7);
  const auto meta = json::parse(info.metadata.at(zoo::kOnnxMetadataKey));
  EXPECT_EQ(meta["format"], zoo::kOnnxExportFormat);
  EXPECT_EQ(meta["format_version"], zoo::kExportFormatVersion);
  EXPECT_EQ(meta["model"]["name"], "unet");
  EXPECT_EQ(meta["model"]["classes"], 3);
  EXPECT_EQ(meta["model"]["in_channels"], 1);
  EXPECT_EQ(meta["model"]["options"], json::parse(R"({"depth": 2, "base_width": 4, "upsampling": "bilinear", "norm": "batch"})"));
  EXPECT_EQ(meta["task"], "segmentation");
  EXPECT_EQ(meta["class_names"][2], "edge");
  EXPECT_EQ(meta["tile"], 128);
  EXPECT_EQ(meta["note"], "kept");
  EXPECT_EQ(meta["model"]["input_multiple"], 4);  // 2^depth
  EXPECT_EQ(meta["onnx"], json::parse(R"({"opset": 13, "shapes": "multiple", "input": "input", "output": "logits",
                                           "runtimes": "onnxruntime, opencv"})"));
  // The same fields as the TorchScript export, but for format and the onnx object.
  auto ts = json::parse(zoo::export_metadata(model, {false, options.metadata_json}));
  auto onnx_meta = meta;
  for (auto* m : {&ts, &onnx_meta}) m->erase("format");
  onnx_meta.erase("onnx");
  EXPECT_EQ(onnx_meta, ts);
}

TEST(Onnx, ExportsTheEvalGraphAndLeavesTheModelAsItWas) {
  OnnxCase c{"resnet20", {"resnet20", 10, 3}, "dynamic", {{2, 3, 17, 23}}};
  auto model = calibrated_model(c);
  model.module().train();
  const auto before = zoo::state_dict(model.module());
  std::vector<torch::Tensor> copies;
  for (const auto& [key, t] : before) copies.push_back(t.clone());
  const auto path = (scratch_dir() / "train_mode.onnx").string();
  zoo::export_onnx(model, path);
  EXPECT_TRUE(model.module().is_training());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(torch::equal(before[i].second, copies[i])) << before[i].first;
  model.module().eval();
  auto net = cv::dnn::readNetFromONNX(path);
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 3, 17, 23});
  EXPECT_LE((run_opencv(net, x) - model.forward(x)).abs().max().item<double>(), 1e-4);
}

TEST(Onnx, InspectExplainsBadFiles) {
  const auto dir = scratch_dir();
  const auto p = [&](const char* name) { return (dir / name).string(); };
  EXPECT_NE(error_of<zoo::ExportError>([&] { zoo::inspect_onnx(p("missing.onnx")); }).find("does not exist"), std::string::npos);
  std::ofstream(p("empty.onnx")).close();
  EXPECT_NE(error_of<zoo::ExportError>([&] { zoo::inspect_onnx(p("empty.onnx")); }).find("is empty"), std::string::npos);
  zoo::export_onnx(zoo::create_model({"resnet20"}, 0), p("full.onnx"));
  fs::copy_file(p("full.onnx"), p("cut.onnx"));
  fs::resize_file(p("cut.onnx"), fs::file_size(p("full.onnx")) * 2 / 3);
  const auto cut = error_of<zoo::ExportError>([&] { zoo::inspect_onnx(p("cut.onnx")); });
  EXPECT_NE(cut.find("cut.onnx"), std::string::npos) << cut;
  EXPECT_NE(cut.find("not an ONNX model"), std::string::npos) << cut;
}

TEST(Onnx, ShapesRoundTripThroughTheirNames) {
  for (const char* text : {"dynamic", "multiple", "static:512x768"}) {
    EXPECT_EQ(zoo::onnx_shapes_name(zoo::parse_onnx_shapes(text)), text);
  }
  const auto s = zoo::parse_onnx_shapes("static:64x96");
  EXPECT_EQ(s.mode, zoo::OnnxShapeMode::Static);
  EXPECT_EQ(s.height, 64);
  EXPECT_EQ(s.width, 96);
}
