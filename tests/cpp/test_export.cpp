// TorchScript export: the saved-and-reloaded twin of every registered model gives the eager
// output (eval, optimized, and train mode), skipzoo.json round-trips, bad files fail cleanly,
// and an export loads back into the eager module for more training.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <skipzoo/models.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "../tools/export_cases.h"
#include "test_util.h"

namespace zoo = skipzoo::models;
namespace fs = std::filesystem;
using skipzoo::testing::ExportCase;
using skipzoo::testing::randomize_norm_stats;
using json = nlohmann::json;
using skipzoo::test::error_of;

namespace {

// A fresh folder per test, so leftover files are visible to the no-partial-output checks.
fs::path scratch_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "_" + info->name();
  for (auto& ch : name) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  auto dir = fs::temp_directory_path() / ("skipzoo_export_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

zoo::Model eval_model(const zoo::ModelConfig& config) {
  auto model = zoo::create_model(config, 0);
  randomize_norm_stats(model.module(), 1);
  model.module().eval();
  return model;
}

// Max |script(x) - eager(x)| over the case's inputs, all through one loaded module (so no
// size can have been baked in); checks shapes and that the outputs are not trivially small.
double max_diff(zoo::Model& model, torch::jit::Module& script, const ExportCase& c) {
  c10::InferenceMode guard;
  torch::manual_seed(2);
  double worst = 0;
  for (const auto& shape : c.inputs) {
    const auto x = torch::randn(shape);
    const auto expected = model.forward(x);
    const auto got = script.forward({x}).toTensor();
    EXPECT_EQ(got.sizes(), expected.sizes()) << c.id << " input " << x.sizes();
    if (model.task == "segmentation") {
      EXPECT_EQ(got.size(2), shape[2]);
      EXPECT_EQ(got.size(3), shape[3]);
    }
    EXPECT_GT(expected.abs().max().item<double>(), 1e-2) << c.id << ": outputs too small to compare";
    worst = std::max(worst, (got - expected).abs().max().item<double>());
  }
  return worst;
}

}  // namespace

class ExportParity : public ::testing::TestWithParam<ExportCase> {};

TEST_P(ExportParity, SavedAndReloadedScriptMatchesEager) {
  const auto& c = GetParam();
  auto model = eval_model(c.config);
  const auto path = (scratch_dir() / "model.ts").string();
  zoo::export_torchscript(model, path);
  auto loaded = zoo::load_torchscript(path);
  fs::remove(path);
  EXPECT_LE(max_diff(model, loaded.module, c), 1e-5) << c.id;
  const auto meta = json::parse(loaded.metadata_json);
  EXPECT_EQ(meta["model"]["name"], c.config.name);
  EXPECT_EQ(meta["task"], model.task);
  EXPECT_EQ(meta["optimized"], false);
}

INSTANTIATE_TEST_SUITE_P(EveryModel, ExportParity, ::testing::ValuesIn(skipzoo::testing::export_cases()),
                         [](const ::testing::TestParamInfo<ExportCase>& info) {
                           std::string id = info.param.id;
                           for (auto& ch : id) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return id;
                         });

TEST(Export, EveryRegisteredModelHasAParityCase) {
  std::set<std::string> covered;
  for (const auto& c : skipzoo::testing::export_cases()) {
    covered.insert(c.config.name);
    EXPECT_GE(c.inputs.size(), 3u) << c.id;
  }
  for (const auto& name : zoo::model_names()) EXPECT_TRUE(covered.count(name)) << name;
}

TEST(Export, OptimizedExportMatchesEagerWithin1e4) {
  const auto all = skipzoo::testing::export_cases();
  const auto dir = scratch_dir();
  for (const std::string id : {"resnet18", "resnet20", "preact_resnet18/one-channel", "unet",
                               "unet/transpose-depth2-no-norm", "unet_resnet18/one-channel", "mlp/batchnorm"}) {
    const auto& c = skipzoo::testing::find_export_case(all, id);
    auto model = eval_model(c.config);
    zoo::ExportOptions options;
    options.optimize = true;
    zoo::export_torchscript(model, (dir / "opt.ts").string(), options);
    auto loaded = zoo::load_torchscript((dir / "opt.ts").string());
    EXPECT_LE(max_diff(model, loaded.module, c), 1e-4) << id;
    // And after the oneDNN step that deployment code runs once the file is loaded.
    auto cpu = zoo::optimize_for_inference_cpu(loaded.module);
    EXPECT_LE(max_diff(model, cpu, c), 1e-4) << id << " (optimize_for_inference_cpu)";
    EXPECT_EQ(json::parse(loaded.metadata_json)["optimized"], true);
    // Frozen: the weights are graph constants, so the file is inference-only.
    EXPECT_EQ(loaded.module.parameters().size(), 0u) << id;
    EXPECT_NE(error_of([&] { zoo::load_weights(model.module(), (dir / "opt.ts").string()); }).find("--optimize"),
              std::string::npos);
  }
}

TEST(Export, TwinInTrainModeMatchesEagerOutputsStatisticsAndGradients) {
  for (const auto& config : {zoo::ModelConfig{"resnet20", 10, 3},
                             zoo::ModelConfig{"unet", 2, 1, R"({"depth": 2, "base_width": 4})"}}) {
    auto eager = zoo::create_model(config, 0), twin_source = zoo::create_model(config, 0);
    randomize_norm_stats(eager.module(), 1);
    randomize_norm_stats(twin_source.module(), 1);
    auto twin = zoo::to_torchscript(twin_source.module());  // shares twin_source's tensors
    twin.train();
    eager.module().train();
    torch::manual_seed(3);
    const auto x = torch::randn({4, config.in_channels, 19, 23});
    const auto y_eager = eager.forward(x);
    const auto y_twin = twin.forward({x}).toTensor();
    EXPECT_LE((y_eager - y_twin).abs().max().item<double>(), 1e-5) << config.name;
    // Batch statistics moved the running averages identically.
    const auto a = zoo::state_dict(eager.module()), b = zoo::state_dict(twin_source.module());
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_LE((a[i].second.to(torch::kDouble) - b[i].second.to(torch::kDouble)).abs().max().item<double>(), 1e-6)
          << a[i].first;
      if (a[i].first.find("num_batches_tracked") != std::string::npos) {
        EXPECT_EQ(b[i].second.item<int64_t>(), 1);
      }
    }
    // Gradients through the twin equal the eager ones.
    y_eager.square().mean().backward();
    y_twin.square().mean().backward();
    std::map<std::string, torch::Tensor> twin_grads;
    for (const auto& p : twin.named_parameters()) twin_grads[p.name] = p.value.grad();
    for (const auto& p : eager.module().named_parameters()) {
      ASSERT_TRUE(twin_grads.count(p.key())) << p.key();
      EXPECT_LE((p.value().grad() - twin_grads[p.key()]).abs().max().item<double>(), 1e-5) << p.key();
    }
  }
}

TEST(Export, RoundTripIntoTheEagerModuleAndTrainingContinues) {
  auto source = eval_model({"resnet20", 4, 3});
  const auto path = (scratch_dir() / "model.ts").string();
  zoo::export_torchscript(source, path);

  auto model = zoo::create_model({"resnet20", 4, 3}, 7);  // other initial weights
  const auto report = zoo::load_weights(model.module(), path);
  EXPECT_TRUE(report.clean()) << report.summary();
  EXPECT_EQ(report.loaded.size(), zoo::state_dict(model.module()).size());
  model.module().eval();
  torch::manual_seed(4);
  const auto x = torch::randn({8, 3, 16, 16});
  {
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(model.forward(x), source.forward(x)));
  }

  const auto labels = torch::randint(0, 4, {8});
  model.module().train();
  torch::optim::SGD sgd(model.module().parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  const auto before = zoo::state_dict(model.module())[0].second.clone();
  std::vector<double> losses;
  for (int step = 0; step < 8; ++step) {
    sgd.zero_grad();
    auto loss = torch::cross_entropy_loss(model.forward(x), labels);
    loss.backward();
    sgd.step();
    losses.push_back(loss.item<double>());
  }
  EXPECT_LT(losses.back(), losses.front() * 0.7);
  EXPECT_FALSE(torch::equal(zoo::state_dict(model.module())[0].second, before));
}

TEST(Export, MetadataHoldsTheModelAndTheAppFields) {
  auto model = zoo::create_model({"unet", 3, 1, R"({"depth": 2, "base_width": 4})"}, 0);
  const auto path = (scratch_dir() / "seg.ts").string();
  zoo::ExportOptions options;
  options.metadata_json = R"({"class_names": ["background", "cell", "edge"],
      "normalization": {"mean": [0.5], "std": [0.25]}, "patch": [64, 96], "tile": 128, "overlap": 0.5,
      "mask_mapping": {"values": [0, 128, 255]}, "note": "free-form keys are kept"})";
  zoo::export_torchscript(model, path, options);
  const auto meta = json::parse(zoo::load_torchscript(path).metadata_json);
  EXPECT_EQ(meta["format"], zoo::kExportFormat);
  EXPECT_EQ(meta["format_version"], zoo::kExportFormatVersion);
  EXPECT_FALSE(meta["skipzoo_version"].get<std::string>().empty());
  EXPECT_EQ(meta["model"]["name"], "unet");
  EXPECT_EQ(meta["model"]["classes"], 3);
  EXPECT_EQ(meta["model"]["in_channels"], 1);
  // The resolved options: every option with its value, not just the ones given.
  EXPECT_EQ(meta["model"]["options"], json::parse(R"({"depth": 2, "base_width": 4, "upsampling": "bilinear",
                                                       "norm": "batch"})"));
  EXPECT_EQ(meta["task"], "segmentation");
  EXPECT_EQ(meta["class_names"][2], "edge");
  EXPECT_EQ(meta["normalization"]["std"][0], 0.25);
  EXPECT_EQ(meta["patch"], json::parse("[64, 96]"));
  EXPECT_EQ(meta["tile"], 128);
  EXPECT_EQ(meta["overlap"], 0.5);
  EXPECT_EQ(meta["mask_mapping"]["values"][1], 128);
  EXPECT_EQ(meta["note"], "free-form keys are kept");
}

TEST(Export, BadMetadataIsRejectedBeforeAnyFileIsWritten) {
  auto model = zoo::create_model({"unet", 3, 1, R"({"depth": 1, "base_width": 2})"}, 0);
  const auto dir = scratch_dir();
  // The application fields are checked by skipzoo::data::DeployInfo (test_data_deploy.cpp);
  // the models library refuses what is not an object and what would replace its own keys.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"[1, 2]", "must be a JSON object"},
      {"{not json", "not valid JSON"},
      {R"({"model": "x"})", "'model' is written by skipzoo"},
      {R"({"task": "classification"})", "'task' is written by skipzoo"}};
  for (const auto& [text, expected] : bad) {
    zoo::ExportOptions options;
    options.metadata_json = text;
    const auto msg = error_of([&] { zoo::export_torchscript(model, (dir / "bad.ts").string(), options); });
    EXPECT_NE(msg.find(expected), std::string::npos) << text << " -> " << msg;
  }
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(Export, ModulesWithoutATwinFailCleanlyWithoutAFile) {
  zoo::Model model{{"custom"}, "classification", torch::nn::AnyModule(torch::nn::Dropout(0.5))};
  const auto dir = scratch_dir();
  const auto msg = error_of([&] { zoo::export_torchscript(model, (dir / "x.ts").string()); });
  EXPECT_NE(msg.find("no TorchScript twin for module type"), std::string::npos) << msg;
  EXPECT_TRUE(fs::is_empty(dir));
  // An unwritable destination (its folder is a file): an error naming it, and nothing left.
  std::ofstream(dir / "file") << "x";
  const auto target = (dir / "file" / "x.ts").string();
  const auto msg2 = error_of([&] { zoo::export_torchscript(zoo::create_model({"mlp"}, 0), target); });
  EXPECT_NE(msg2.find(target), std::string::npos) << msg2;
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST(Export, LoadTorchscriptExplainsBadFiles) {
  const auto dir = scratch_dir();
  const auto path = [&](const char* name) { return (dir / name).string(); };
  EXPECT_NE(error_of([&] { zoo::load_torchscript(path("missing.ts")); }).find("does not exist"), std::string::npos);
  std::ofstream(path("empty.ts")).close();
  EXPECT_NE(error_of([&] { zoo::load_torchscript(path("empty.ts")); }).find("is empty"), std::string::npos);

  auto model = zoo::create_model({"resnet20"}, 0);
  zoo::export_torchscript(model, path("full.ts"));
  fs::copy_file(path("full.ts"), path("cut.ts"));
  fs::resize_file(path("cut.ts"), fs::file_size(path("full.ts")) * 2 / 3);
  const auto cut = error_of([&] { zoo::load_torchscript(path("cut.ts")); });
  EXPECT_NE(cut.find("cut.ts"), std::string::npos) << cut;
  EXPECT_NE(cut.find("truncated or corrupt"), std::string::npos) << cut;

  zoo::save_state_dict(model.module(), path("weights.pt"));
  const auto sd = error_of([&] { zoo::load_torchscript(path("weights.pt")); });
  EXPECT_NE(sd.find("is not a TorchScript archive"), std::string::npos) << sd;

  // TorchScript written without skipzoo.json loads with empty metadata; a newer format is refused.
  auto twin = zoo::to_torchscript(model.module());
  twin.save(path("plain.ts"));
  EXPECT_EQ(zoo::load_torchscript(path("plain.ts")).metadata_json, "{}");
  twin.save(path("future.ts"), {{zoo::kMetadataFile, R"({"format": "skipzoo.torchscript", "format_version": 99})"}});
  const auto future = error_of([&] { zoo::load_torchscript(path("future.ts")); });
  EXPECT_NE(future.find("format_version 99"), std::string::npos) << future;
  twin.save(path("garbled.ts"), {{zoo::kMetadataFile, "{oops"}});
  EXPECT_NE(error_of([&] { zoo::load_torchscript(path("garbled.ts")); }).find("not valid JSON"), std::string::npos);
}

TEST(Export, HeadPrefixesCoverExactlyTheTensorsThatDependOnClasses) {
  // One model per head type (the big ResNets share resnet18's code); blocks have no head.
  for (const std::string name : {"resnet18", "resnet20", "preact_resnet18", "unet", "unet_resnet18", "mlp"}) {
    const std::string options = name == "mlp" ? R"({"depth": 3})" : "{}";
    auto a = zoo::create_model({name, 3, -1, options}), b = zoo::create_model({name, 5, -1, options});
    const auto prefixes = zoo::head_prefixes(a);
    ASSERT_EQ(prefixes.size(), 1u) << name;
    const auto sa = zoo::state_dict(a.module()), sb = zoo::state_dict(b.module());
    for (size_t i = 0; i < sa.size(); ++i) {
      const bool in_head = sa[i].first.rfind(prefixes[0], 0) == 0;
      EXPECT_EQ(in_head, sa[i].second.sizes() != sb[i].second.sizes()) << name << ": " << sa[i].first;
    }
  }
  for (const auto& name : zoo::model_names()) {
    if (zoo::find_model(name).task == "features") {
      EXPECT_TRUE(zoo::head_prefixes(zoo::create_model({name})).empty()) << name;
    }
  }
}
