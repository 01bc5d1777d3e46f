// The segmentation app end to end through the CLI: learning, export parity, resume (straight
// vs resumed, and after SIGINT), the weight average, binary 0/255 masks, and bad input.
#include <gtest/gtest.h>
#include <skipzoo/models.h>

#include <opencv2/imgproc.hpp>

#include "seg_app_util.h"
#include "test_util.h"
#include "engine/checkpoint.h"
#include "engine/predictor.h"
#include "engine/run_files.h"
#include "engine/weight_average.h"

using skipzoo::test::kTiny;
using skipzoo::test::run_cli;
using skipzoo::test::shapes_set;
using skipzoo::test::TempDir;
using skipzoo::test::train_seg;
namespace fs = std::filesystem;
namespace app = skipzoo::app;

namespace {

skipzoo::models::NamedTensors checkpoint_weights(const std::string& path) {
  auto loaded = app::load_checkpoint_model(path);
  return skipzoo::models::state_dict(loaded.model->module());
}

bool same_files(const std::string& a, const std::string& b) {
  return skipzoo::test::read_bytes(a) == skipzoo::test::read_bytes(b);
}

}  // namespace

TEST(SegApp, TinyRunLearnsAndTheExportPredictsTheSameMasks) {
  TempDir tmp;
  const auto run = tmp.file("run");
  auto r = run_cli(train_seg(run, "--epochs 8 --patches-per-image 8 --lr 3e-3"));
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* f : {"config.json", "metrics.csv", "metrics.json", "last.ckpt", "best.ckpt", "curves.png", "model.ts"}) {
    EXPECT_TRUE(fs::exists(fs::path(run) / f)) << f;
  }
  EXPECT_FALSE(fs::is_empty(fs::path(run) / "overlays"));
  const auto history = app::read_json(run + "/metrics.json");
  ASSERT_EQ(history.size(), 8u);
  EXPECT_GE(history.back()["val_pixel_acc"].get<double>(), 0.9) << history.back().dump();

  const auto images = shapes_set() + "/val/images";
  r = run_cli("--threads 1 predict --model " + run + "/best.ckpt --input " + images + " --out " + tmp.file("p_ckpt"));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_cli("--threads 1 predict --model " + run + "/model.ts --input " + images + " --out " + tmp.file("p_ts"));
  ASSERT_EQ(r.code, 0) << r.output;
  int compared = 0;
  for (const auto& e : fs::directory_iterator(tmp.file("p_ckpt/masks"))) {
    EXPECT_TRUE(same_files(e.path().string(), tmp.file("p_ts/masks/" + e.path().filename().string()))) << e.path();
    ++compared;
  }
  EXPECT_GT(compared, 0);

  // eval agrees with the training's last validation (the best checkpoint is the last here or close).
  r = run_cli("--threads 1 eval --model " + run + "/model.ts --data " + shapes_set() + " --json " + tmp.file("eval.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto metrics = app::read_json(tmp.file("eval.json"));
  EXPECT_GE(metrics["pixel_acc"].get<double>(), 0.9);
  EXPECT_EQ(metrics["split"], "val");

  // `export --checkpoint RUN`: the same file as the run's own model.ts, optimized on request.
  r = run_cli("--threads 1 export --checkpoint " + run + " --out " + tmp.file("again.ts") + " --state-dict " +
              tmp.file("sd.pt"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto a = skipzoo::models::load_torchscript(run + "/model.ts"), b = skipzoo::models::load_torchscript(tmp.file("again.ts"));
  EXPECT_EQ(a.metadata_json, b.metadata_json);
  auto x = torch::randn({1, 3, 37, 53});
  auto ma = a.module, mb = b.module;
  EXPECT_TRUE(torch::equal(ma.forward({x}).toTensor(), mb.forward({x}).toTensor()));
  const auto sd = skipzoo::models::read_weights(tmp.file("sd.pt"));
  EXPECT_FALSE(sd.empty());
  for (const auto& [key, t] : sd) EXPECT_TRUE(t.is_contiguous()) << key;  // plain tensors for Python
  r = run_cli("--threads 1 export --checkpoint " + run + "/best.ckpt --optimize --out " + tmp.file("opt.ts"));
  EXPECT_EQ(r.code, 0) << r.output;
  r = run_cli("export --checkpoint " + run + " --classes 5 --out " + tmp.file("bad.ts"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("--checkpoint brings its own model"), std::string::npos) << r.output;
  r = run_cli("export --checkpoint " + tmp.file("nowhere") + " --out " + tmp.file("bad.ts"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("does not exist"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp.file("bad.ts")));
}

TEST(SegApp, OneEpochPlusResumeEqualsTwoStraightEpochs) {
  TempDir tmp;
  // An explicit layout: `auto` could measure differently in the two runs (another test may be
  // updating the shared layout cache at the same time).
  const std::string common = "--schedule constant --no-export --patches-per-image 2 --layout contiguous";
  auto r = run_cli(train_seg(tmp.file("straight"), common + " --epochs 2"));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_cli(train_seg(tmp.file("resumed"), common + " --epochs 1"));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_cli("--threads 1 train seg --resume " + tmp.file("resumed") + " --epochs 2 --workers 2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resuming"), std::string::npos) << r.output;
  const auto a = checkpoint_weights(tmp.file("straight/last.ckpt"));
  const auto b = checkpoint_weights(tmp.file("resumed/last.ckpt"));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  app::CheckpointReader reader(tmp.file("resumed/last.ckpt"));
  EXPECT_EQ(reader.state().epoch, 2);
  // The weight average (on by default) resumes too.
  const auto average_a = app::CheckpointReader(tmp.file("straight/last.ckpt")).weight_average();
  const auto average_b = reader.weight_average();
  ASSERT_FALSE(average_a.empty());
  ASSERT_EQ(average_a.size(), average_b.size());
  for (size_t i = 0; i < average_a.size(); ++i) EXPECT_TRUE(torch::equal(average_a[i], average_b[i])) << i;
  EXPECT_EQ(app::read_json(tmp.file("resumed/metrics.json")).size(), 2u);
}

// Segmentation validates, keeps as best.ckpt and exports the weights' moving average by default:
// best.ckpt's weights are last.ckpt's stored average (one validation, at the end), not its live
// weights; model.ts and every use of last.ckpt (eval here) give the validated score; `--ema 0`
// keeps no average.
TEST(SegApp, TheWeightAverageIsWhatIsValidatedKeptAndExported) {
  TempDir tmp;
  const std::string common = "--patches-per-image 2 --epochs 1 --layout contiguous";
  auto r = run_cli(train_seg(tmp.file("avg"), common));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(app::read_json(tmp.file("avg/config.json"))["train"]["weight_average"], 0.99);
  const auto m = app::read_json(tmp.file("avg/config.json"))["model"];
  auto last = skipzoo::models::create_model({m["name"].get<std::string>(), m["classes"].get<int64_t>(),
                                             m["in_channels"].get<int64_t>(), m["options"].dump()});
  app::CheckpointReader last_reader(tmp.file("avg/last.ckpt"));
  last_reader.load_model(last.module());  // the live weights
  auto best = app::load_checkpoint_model(tmp.file("avg/best.ckpt"));
  const auto live = app::averaged_tensors(last.module()), kept = app::averaged_tensors(best.model->module());
  const auto average = last_reader.weight_average();
  ASSERT_EQ(average.size(), live.size());
  ASSERT_EQ(kept.size(), live.size());
  bool moved = false;
  for (size_t i = 0; i < live.size(); ++i) {
    EXPECT_TRUE(torch::equal(kept[i], average[i].to(kept[i].options()))) << i;
    moved = moved || !torch::equal(live[i], kept[i]);
  }
  EXPECT_TRUE(moved) << "best.ckpt holds the live weights, not their average";
  EXPECT_TRUE(app::CheckpointReader(tmp.file("avg/best.ckpt")).weight_average().empty());

  const auto validated = app::read_json(tmp.file("avg/metrics.json")).back()["val_mIoU"].get<double>();
  std::vector<double> scores;
  for (const char* model : {"model.ts", "last.ckpt"}) {
    const auto json = tmp.file(std::string(model) + ".json");
    r = run_cli("--threads 1 eval --layout contiguous --model " + tmp.file("avg/") + model + " --data " + shapes_set() +
                " --json " + json);
    ASSERT_EQ(r.code, 0) << r.output;
    scores.push_back(app::read_json(json)["mIoU"].get<double>());
    EXPECT_NEAR(scores.back(), validated, 1e-4) << model;
  }
  EXPECT_EQ(scores[0], scores[1]);

  r = run_cli(train_seg(tmp.file("plain"), common + " --no-export --ema 0"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(app::CheckpointReader(tmp.file("plain/last.ckpt")).weight_average().empty());
}

// Channels-last changes the layout oneDNN computes in, not the training: the same run in NCHW
// ends at the same weights up to float rounding.
TEST(SegApp, ChannelsLastTrainsLikeContiguous) {
  TempDir tmp;
  const std::string common = "--schedule constant --no-export --patches-per-image 2 --epochs 1 --lr 1e-3";
  auto r = run_cli(train_seg(tmp.file("nhwc"), common + " --layout channels-last"));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_cli(train_seg(tmp.file("nchw"), common + " --layout contiguous"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(app::read_json(tmp.file("nhwc/config.json"))["layout"]["layout"], "channels-last");
  EXPECT_EQ(app::read_json(tmp.file("nchw/config.json"))["layout"]["layout"], "contiguous");
  const auto a = checkpoint_weights(tmp.file("nhwc/last.ckpt"));
  const auto b = checkpoint_weights(tmp.file("nchw/last.ckpt"));
  ASSERT_EQ(a.size(), b.size());
  double largest = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].first, b[i].first);
    if (!a[i].second.is_floating_point()) continue;
    largest = std::max(largest, (a[i].second - b[i].second).abs().max().item<double>());
  }
  EXPECT_LT(largest, 1e-3);  // a few Adam steps from the same start: rounding only
}

TEST(SegApp, SigintSavesAndTheRunResumes) {
  TempDir tmp;
  const auto run = tmp.file("run"), log = tmp.file("log.txt");
  const std::string cmd = std::string(SKIPZOO_CLI) + " " +
                          train_seg(run, "--epochs 20 --patches-per-image 4 --no-export --layout contiguous") +
                          " > " + log + " 2>&1";
  EXPECT_EQ(skipzoo::test::interrupt_after("exec " + cmd, log, "epoch 2/20", 120), 130)
      << skipzoo::test::read_bytes(log);
  EXPECT_NE(skipzoo::test::read_bytes(log).find("--resume"), std::string::npos);
  app::CheckpointReader interrupted(run + "/last.ckpt");
  EXPECT_LT(interrupted.state().epoch, 20);

  auto r = run_cli("--threads 1 train seg --resume " + run);
  ASSERT_EQ(r.code, 0) << r.output;
  app::CheckpointReader done(run + "/last.ckpt");
  EXPECT_EQ(done.state().epoch, 20);
  EXPECT_EQ(done.state().batch, 0);
  EXPECT_EQ(app::read_json(run + "/metrics.json").size(), 20u);
}

TEST(SegApp, BinaryMasksSavedAs0And255WorkEndToEnd) {
  TempDir tmp;
  // Bright discs on dark noise; masks 0/255 as most binary tools save them.
  cv::RNG rng(7);
  for (int i = 0; i < 12; ++i) {
    const int w = 40 + rng.uniform(0, 40), h = 40 + rng.uniform(0, 40);
    cv::Mat image(h, w, CV_8UC3), mask = cv::Mat::zeros(h, w, CV_8U);
    rng.fill(image, cv::RNG::UNIFORM, 0, 90);
    const cv::Point c(rng.uniform(8, w - 8), rng.uniform(8, h - 8));
    const int radius = rng.uniform(5, 14);
    cv::circle(image, c, radius, cv::Scalar(230, 230, 230), cv::FILLED);
    cv::circle(mask, c, radius, cv::Scalar(255), cv::FILLED);
    const std::string split = i < 9 ? "train" : "val";
    skipzoo::test::cv_write(tmp.file(split + "/images/" + std::to_string(i) + ".png"), image);
    skipzoo::test::cv_write(tmp.file(split + "/masks/" + std::to_string(i) + ".png"), mask);
  }
  const auto run = tmp.file("run");
  auto r = run_cli("train seg --data " + tmp.path() + " --mask-values 0,255 --out " + run + " " + kTiny +
                   " --epochs 6 --patches-per-image 8 --lr 3e-3");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("values 0,255"), std::string::npos) << r.output;
  r = run_cli("--threads 1 predict --model " + run + "/model.ts --input " + tmp.path() + "/val/images --out " +
              tmp.file("pred"));
  ASSERT_EQ(r.code, 0) << r.output;
  int saw255 = 0;
  for (const auto& e : fs::directory_iterator(tmp.file("pred/masks"))) {
    const cv::Mat m = cv::imread(e.path().string(), cv::IMREAD_UNCHANGED);
    ASSERT_EQ(m.type(), CV_8U);
    EXPECT_EQ(cv::countNonZero((m != 0) & (m != 255)), 0) << "only the original values 0 and 255";
    saw255 += cv::countNonZero(m == 255) > 0;
  }
  EXPECT_GT(saw255, 0);
}

TEST(SegApp, PatchLargerThanEveryImageIsPaddedNotAnError) {
  TempDir tmp;
  auto r = run_cli("train seg --data " + shapes_set() + " --out " + tmp.file("run") +
                   " --threads 1 --workers 1 --patch 160 --batch 2 --epochs 1 --no-export"
                   " --options '{\"depth\":2,\"base_width\":4}'");
  EXPECT_EQ(r.code, 0) << r.output;
}

TEST(SegApp, BadInputGetsClearMessages) {
  TempDir tmp;
  auto r = run_cli("train seg --data " + shapes_set() + " --out " + tmp.file("a") + " --model unet9");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("unknown model 'unet9'"), std::string::npos) << r.output;
  r = run_cli("train seg --data " + shapes_set() + " --out " + tmp.file("b") + " --model resnet18");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("is a classification model"), std::string::npos) << r.output;
  r = run_cli("predict --input " + shapes_set() + "/val/images --out " + tmp.file("c"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--model is required"), std::string::npos) << r.output;
  r = run_cli("train seg --data " + tmp.file("missing") + " --out " + tmp.file("d"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("missing"), std::string::npos) << r.output;
  // Weights of another architecture: every mismatch is listed.
  auto resnet = skipzoo::models::create_model({"resnet20"});
  skipzoo::models::save_state_dict(resnet.module(), tmp.file("resnet20.pt"));
  r = run_cli("train seg --data " + shapes_set() + " --out " + tmp.file("e") + " " + kTiny + " --weights " +
              tmp.file("resnet20.pt"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("missing in file: down.0.conv1.weight"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("unexpected in file: conv1.weight"), std::string::npos) << r.output;
  r = run_cli("predict --model " + tmp.file("resnet20.pt") + " --input " + shapes_set() + "/val/images --out " + tmp.file("f"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("resnet20.pt"), std::string::npos) << r.output;
  r = run_cli("train seg --resume " + tmp.file("nothing-here"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("last.ckpt': no such file"), std::string::npos) << r.output;
}
