// Weight IO: Python-ordered state dicts, strict/non-strict loading reports, bad files.
#include <gtest/gtest.h>
#include <skipzoo/models.h>

#include <filesystem>
#include <fstream>

#include "test_util.h"

namespace zoo = skipzoo::models;
namespace fs = std::filesystem;
using skipzoo::test::error_of;

namespace {
fs::path scratch(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("skipzoo_weights_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}
}  // namespace

TEST(StateDict, PythonOrderPerModule) {
  zoo::BasicBlock block(zoo::BlockOptions(4, 8).stride(2));
  std::vector<std::string> keys;
  for (const auto& kv : zoo::state_dict(*block)) keys.push_back(kv.first);
  const std::vector<std::string> expected = {
      "conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
      "conv2.weight", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var", "bn2.num_batches_tracked",
      "downsample.0.weight", "downsample.1.weight", "downsample.1.bias", "downsample.1.running_mean",
      "downsample.1.running_var", "downsample.1.num_batches_tracked"};
  EXPECT_EQ(keys, expected);
}

TEST(Weights, SaveAndLoadRoundTrip) {
  auto a = zoo::create_model({"resnet20"}, 1), b = zoo::create_model({"resnet20"}, 2);
  {  // make the buffers differ too
    torch::NoGradGuard g;
    for (auto& buf : a.module().buffers()) buf.add_(1);
  }
  const auto path = scratch("rt.pt").string();
  zoo::save_state_dict(a.module(), path);
  auto report = zoo::load_weights(b.module(), path);
  EXPECT_TRUE(report.clean());
  auto sa = zoo::state_dict(a.module()), sb = zoo::state_dict(b.module());
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;
  EXPECT_EQ(report.loaded.size(), sa.size());
}

TEST(Weights, StrictLoadListsEveryProblemAndChangesNothing) {
  auto src = zoo::create_model({"resnet20", 5}, 1);
  auto dst = zoo::create_model({"resnet20", 10}, 2);
  auto weights = zoo::state_dict(src.module());
  weights.erase(weights.begin());                          // conv1.weight missing
  weights.emplace_back("extra.weight", torch::zeros({1}));  // unexpected
  const auto before = zoo::state_dict(dst.module())[1].second.clone();
  const auto msg = error_of([&] { zoo::load_state_dict(dst.module(), weights); });
  EXPECT_NE(msg.find("missing in file: conv1.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unexpected in file: extra.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("shape mismatch: fc.weight: file [5, 64], model [10, 64]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("shape mismatch: fc.bias"), std::string::npos) << msg;
  EXPECT_TRUE(torch::equal(zoo::state_dict(dst.module())[1].second, before));
}

TEST(Weights, NonStrictOrSkippedHeadLoadsTheRest) {
  auto src = zoo::create_model({"resnet20", 5}, 1);
  auto dst = zoo::create_model({"resnet20", 10}, 2);
  const auto weights = zoo::state_dict(src.module());
  zoo::LoadOptions skip_head;
  skip_head.skip_prefixes = {"fc."};
  auto report = zoo::load_state_dict(dst.module(), weights, skip_head);
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(report.skipped, (std::vector<std::string>{"fc.weight", "fc.bias"}));
  EXPECT_TRUE(torch::equal(zoo::state_dict(dst.module())[0].second, weights[0].second));

  auto dst2 = zoo::create_model({"resnet20", 10}, 3);
  zoo::LoadOptions loose;
  loose.strict = false;
  report = zoo::load_state_dict(dst2.module(), weights, loose);
  EXPECT_EQ(report.mismatched.size(), 2u);
  EXPECT_EQ(report.loaded.size(), weights.size() - 2);
}

TEST(Weights, BadFilesGetClearMessages) {
  auto model = zoo::create_model({"resnet20"});
  EXPECT_NE(error_of([&] { zoo::load_weights(model.module(), "/nonexistent/w.pt"); }).find("does not exist"),
            std::string::npos);
  const auto empty = scratch("empty.pt").string();
  std::ofstream(empty).close();
  EXPECT_NE(error_of([&] { zoo::load_weights(model.module(), empty); }).find("is empty"), std::string::npos);
  const auto text = scratch("text.pt").string();
  std::ofstream(text) << "not a tensor file";
  EXPECT_NE(error_of([&] { zoo::load_weights(model.module(), text); }).find("not a PyTorch zip archive"),
            std::string::npos);
  // A valid file cut in half.
  const auto full = scratch("full.pt").string(), cut = scratch("cut.pt").string();
  zoo::save_state_dict(model.module(), full);
  const auto size = fs::file_size(full);
  fs::copy_file(full, cut, fs::copy_options::overwrite_existing);
  fs::resize_file(cut, size / 2);
  const auto msg = error_of([&] { zoo::load_weights(model.module(), cut); });
  EXPECT_NE(msg.find("cut.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated or corrupt"), std::string::npos) << msg;
}

TEST(Weights, AtomicWriteOnAFullDiskSaysSoAndKeepsThePreviousFile) {
  skipzoo::test::SmallDisk disk(1 << 20);
  if (!disk.mounted()) GTEST_SKIP() << disk.why;
  const auto path = disk.file("model.bin");
  zoo::write_file_atomic(path, "the previous version");
  const auto msg = skipzoo::test::error_of<std::runtime_error>([&] { zoo::write_file_atomic(path, std::string(2 << 20, 'x')); });
  EXPECT_EQ(msg, "cannot write '" + path + "': No space left on device");
  EXPECT_EQ(skipzoo::test::read_bytes(path), "the previous version");
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
}
