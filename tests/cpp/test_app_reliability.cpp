// Failures users reported (issue 15), each reproduced through the CLI with its expected value
// taken from the input: masks with nothing to learn or that do not fit, two trainings into one
// run directory, a full disk, divergence, what a killed run leaves behind, a run without
// validation, predict inputs whose names collide, mixed channels, numbers in flags, exit codes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "png_writer.h"
#include "seg_app_util.h"

namespace fs = std::filesystem;
using skipzoo::test::run_cli;
using skipzoo::test::shapes_set;
using skipzoo::test::TempDir;
using skipzoo::test::train_seg;

namespace {

// The shapes set's training images and masks in the flat layout (images/, masks/), so that
// --val-fraction 0 gives a run without validation.
std::string flat_copy(const TempDir& tmp, const std::string& name) {
  const auto root = tmp.file(name);
  for (const char* part : {"images", "masks"}) {
    fs::create_directories(root + "/" + part);
    for (const auto& e : fs::directory_iterator(shapes_set() + "/train/" + part)) {
      fs::copy_file(e.path(), root + "/" + part + "/" + e.path().filename().string());
    }
  }
  return root;
}

bool alive(pid_t pid) { return kill(pid, 0) == 0; }

}  // namespace

TEST(Reliability, MasksWithOneValueAreRefusedWithTheFlagToUse) {
  TempDir tmp;
  const auto data = flat_copy(tmp, "one");
  for (const auto& e : fs::directory_iterator(data + "/masks")) {  // all background
    const cv::Mat mask = cv::imread(e.path().string(), cv::IMREAD_UNCHANGED);
    skipzoo::test::cv_write(e.path().string(), cv::Mat::zeros(mask.size(), CV_8UC1));
  }
  auto r = run_cli("train seg --data " + data + " --out " + tmp.file("run") + " " + skipzoo::test::kTiny +
                   " --epochs 1 --val-fraction 0.2");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("one class only"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--mask-values 0,255"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp.file("run") + "/model.ts"));
}

TEST(Reliability, ASecondTrainingIntoTheSameRunIsRefusedWithTheFirstOnesId) {
  TempDir tmp;
  const auto run = tmp.file("run"), log = tmp.file("first.txt");
  const std::string first = "exec " + std::string(SKIPZOO_CLI) + " " +
                            train_seg(run, "--epochs 200 --no-export --layout contiguous") + " > " + log + " 2>&1";
  pid_t pid = 0;
  const char* argv[] = {"/bin/sh", "-c", first.c_str(), nullptr};
  ASSERT_EQ(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
  // Wait until the first run holds the directory: its config.json is written under the lock.
  for (int i = 0; i < 3600 && !fs::exists(run + "/config.json") && alive(pid); ++i) usleep(50000);
  ASSERT_TRUE(fs::exists(run + "/config.json")) << skipzoo::test::read_bytes(log);

  const auto r = run_cli(train_seg(run, "--epochs 1"));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("is in use by another skipzoo training (process " + std::to_string(pid) + ")"),
            std::string::npos)
      << r.output;
  // The first run was not disturbed: it stopped on SIGINT with its own state saved.
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 130) << skipzoo::test::read_bytes(log);
  EXPECT_TRUE(fs::exists(run + "/last.ckpt"));

  // Once the first has ended, the directory is free again (flock dies with its process).
  const auto again = run_cli(train_seg(run, "--epochs 1 --no-export"));
  EXPECT_EQ(again.code, 0) << again.output;
}

TEST(Reliability, HalfWrittenFilesOfAKilledRunAreRemovedOnTheNextStart) {
  TempDir tmp;
  const auto run = tmp.file("run");
  fs::create_directories(run);
  pid_t dead = 4000000;  // above Linux's pid_max (4194304 at most): find one that is not running
  while (alive(dead)) ++dead;
  const auto stale = run + "/last.ckpt.tmp" + std::to_string(dead) + "_0";
  const auto live = run + "/best.ckpt.tmp" + std::to_string(getpid()) + "_0";  // a live writer's: kept
  std::ofstream(stale) << std::string(3 << 20, 'x');
  std::ofstream(live) << "y";
  const auto r = run_cli(train_seg(run, "--epochs 1 --no-export"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("removed 3 MiB of half-written files"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));
}

TEST(Reliability, ARunWithoutValidationIsUsedThroughItsLastCheckpoint) {
  TempDir tmp;
  const auto data = flat_copy(tmp, "flat"), run = tmp.file("run");
  auto r = run_cli("train seg --data " + data + " --out " + run + " " + skipzoo::test::kTiny +
                   " --epochs 1 --val-fraction 0 --no-export");
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_FALSE(fs::exists(run + "/best.ckpt"));
  r = run_cli("export --checkpoint " + run + " --out " + tmp.file("m.ts"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("has no best.ckpt (a run without validation): using last.ckpt"), std::string::npos)
      << r.output;
  r = run_cli("--threads 1 predict --model " + run + " --input " + data + "/images --out " + tmp.file("pred"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.file("pred") + "/masks"), fs::directory_iterator()),
            std::distance(fs::directory_iterator(data + "/images"), fs::directory_iterator()));

  // Inputs whose names collide: a.png and a.jpg, x/b.png and y/b.png. Four inputs, four masks.
  const auto some = fs::directory_iterator(data + "/images")->path().string();
  const cv::Mat image = cv::imread(some, cv::IMREAD_UNCHANGED);
  for (const char* name : {"same/a.png", "same/a.jpg", "same/x/b.png", "same/y/b.png"}) {
    skipzoo::test::cv_write(tmp.file(name), image);
  }
  r = run_cli("--threads 1 predict --model " + run + " --input " + tmp.file("same") + " --out " + tmp.file("p2"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("2 images share a name up to their extension"), std::string::npos) << r.output;
  for (const char* mask : {"a.png.png", "a.jpg.png", "x/b.png", "y/b.png"}) {
    EXPECT_TRUE(fs::exists(tmp.file("p2") + "/masks/" + mask)) << mask << "\n" << r.output;
    EXPECT_TRUE(fs::exists(tmp.file("p2") + "/overlays/" + mask)) << mask;
  }
}

TEST(Reliability, AFullDiskIsReportedWithTheFileAndLeavesNoHalfWrittenFile) {
  skipzoo::test::SmallDisk disk(16 << 20);
  if (!disk.mounted()) GTEST_SKIP() << disk.why;
  TempDir tmp;
  auto r = run_cli(train_seg(tmp.file("good"), "--epochs 1 --no-export"));
  ASSERT_EQ(r.code, 0) << r.output;

  disk.fill_leaving(48 << 10);  // config.json fits, a checkpoint does not
  const auto run = disk.file("run");
  r = run_cli(train_seg(run, "--epochs 2 --no-export"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("skipzoo: error: cannot write '" + run + "/"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("': No space left on device"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
  for (const auto& e : fs::directory_iterator(run)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }

  // PNG outputs too: the reason is the disk, not "unknown extension or unwritable folder".
  const auto out = disk.file("pred");
  r = run_cli("--threads 1 predict --model " + tmp.file("good") + " --input " + shapes_set() + "/val/images --out " + out);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("No space left on device"), std::string::npos) << r.output;
}

TEST(Reliability, DivergenceNeverWritesANonFiniteStateAndNamesOnlyACheckpointThatExists) {
  TempDir tmp;
  const auto run = tmp.file("run");
  // SGD at 1e6: the loss explodes within the first steps.
  const auto r = run_cli(train_seg(run, "--epochs 3 --optimizer sgd --lr 1e6 --warmup 0"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_TRUE(r.output.find("inf or NaN") != std::string::npos || r.output.find("the loss became") != std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(run + "/model.ts"));
  if (fs::exists(run + "/last.ckpt")) {
    EXPECT_NE(r.output.find("The last good checkpoint is " + run + "/last.ckpt"), std::string::npos) << r.output;
    const auto check = run_cli("export --checkpoint " + run + "/last.ckpt --out " + tmp.file("m.ts"));
    ASSERT_EQ(check.code, 0) << check.output;
  } else {
    EXPECT_NE(r.output.find("No checkpoint was written before it."), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("last.ckpt"), std::string::npos) << r.output;
  }
}

TEST(Reliability, ABatchNormWithOneValuePerChannelNamesTheFlagToChange) {
  TempDir tmp;
  const auto r = run_cli("train seg --data " + shapes_set() + " --out " + tmp.file("run") +
                         " --threads 1 --workers 1 --patch 16 --batch 1 --epochs 1 --layout contiguous"
                         " --options '{\"depth\":4,\"base_width\":4}'");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--batch 1: the model's BatchNorm sees a single value per channel"), std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("frame #"), std::string::npos) << r.output;
}

TEST(Reliability, ABrokenLinkAndAMissingFolderAreCalledWhatTheyAre) {
  TempDir tmp;
  const auto data = flat_copy(tmp, "links");
  const auto first = fs::directory_iterator(data + "/images")->path();
  fs::remove(first);
  fs::create_symlink(tmp.file("gone.png"), first);
  auto r = run_cli("train seg --data " + data + " --out " + tmp.file("run") + " " + skipzoo::test::kTiny +
                   " --epochs 1 --skip-bad");
  EXPECT_NE(r.output.find(first.string() + ": broken link (it points to " + tmp.file("gone.png") + ", which does not exist)"),
            std::string::npos)
      << r.output;
  r = run_cli("train seg --data " + tmp.file("nowhere") + " --out " + tmp.file("run2") + " --epochs 1");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find(tmp.file("nowhere") + ": no such folder"), std::string::npos) << r.output;
}

TEST(Reliability, MasksThatDoNotFitTheOthersAreNamed) {
  TempDir tmp;
  // One lossy JPEG mask among PNG masks: its hundreds of values are named with the file.
  const auto jpeg_set = flat_copy(tmp, "jpeg");
  const auto victim = fs::directory_iterator(jpeg_set + "/masks")->path();
  cv::Mat noise(cv::imread(victim.string(), cv::IMREAD_UNCHANGED).size(), CV_8UC1);
  cv::randu(noise, 0, 256);  // a lossy file keeps hundreds of these values
  fs::remove(victim);
  const auto jpeg = (victim.parent_path() / victim.stem()).string() + ".jpg";
  skipzoo::test::cv_write(jpeg, noise);
  auto r = run_cli("train seg --data " + jpeg_set + " --out " + tmp.file("r1") + " " + skipzoo::test::kTiny + " --epochs 1");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("The masks with more values than the others: " + jpeg + " ("), std::string::npos) << r.output;

  // One colour mask among gray ones.
  const auto colour_set = flat_copy(tmp, "colour");
  const auto odd = fs::directory_iterator(colour_set + "/masks")->path().string();
  const cv::Mat gray = cv::imread(odd, cv::IMREAD_UNCHANGED);
  cv::Mat bgr(gray.size(), CV_8UC3, cv::Scalar(0, 0, 0));
  bgr.setTo(cv::Scalar(0, 0, 200), gray > 0);
  skipzoo::test::cv_write(odd, bgr);
  r = run_cli("train seg --data " + colour_set + " --out " + tmp.file("r2") + " " + skipzoo::test::kTiny + " --epochs 1");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("The 1 mask in colour: " + odd + "."), std::string::npos) << r.output;
}

TEST(Reliability, PaletteMasksNeedTheirMappingAndReadRightWithIt) {
  TempDir tmp;
  const auto data = flat_copy(tmp, "voc");
  // VOC-style masks: class indices 0..2 with VOC's palette, a 255 (void) border around objects.
  std::string palette(256 * 3, '\0');
  const uint8_t colours[][3] = {{0, 0, 0}, {128, 0, 0}, {0, 128, 0}};
  for (int c = 0; c < 3; ++c) std::copy(colours[c], colours[c] + 3, palette.begin() + 3 * c);
  palette[3 * 255] = char(224), palette[3 * 255 + 1] = char(224), palette[3 * 255 + 2] = char(192);
  skipzoo::test::PngLayout layout;
  layout.color = 3;
  layout.before_idat = skipzoo::test::png_chunk("PLTE", palette);
  for (const auto& e : fs::directory_iterator(data + "/masks")) {
    cv::Mat index = cv::imread(e.path().string(), cv::IMREAD_UNCHANGED), grown;
    cv::dilate(index, grown, cv::Mat::ones(3, 3, CV_8U));
    index.setTo(255, grown != index);
    skipzoo::test::write_bytes(e.path().string(), skipzoo::test::encode_png(index, layout));
  }
  auto r = run_cli("train seg --data " + data + " --out " + tmp.file("r1") + " " + skipzoo::test::kTiny + " --epochs 1");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("an indexed-colour (palette) PNG mask"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--mask-values voc"), std::string::npos) << r.output;
  r = run_cli("train seg --data " + data + " --out " + tmp.file("r2") + " " + skipzoo::test::kTiny +
              " --epochs 1 --no-export --mask-values voc:3");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("-> classes 0..2 (ignore"), std::string::npos) << r.output;  // void: no class
}

TEST(Reliability, ADataSetMixingGrayAndColourImagesTrainsInColourEverywhere) {
  TempDir tmp;
  const auto data = tmp.file("mixed");
  fs::copy(shapes_set(), data, fs::copy_options::recursive);
  std::vector<std::string> gray;
  for (const auto& e : fs::directory_iterator(data + "/val/images")) gray.push_back(e.path().string());
  std::vector<fs::path> train(fs::directory_iterator(data + "/train/images"), fs::directory_iterator());
  std::sort(train.begin(), train.end());
  gray.push_back(train.front().string());  // the first file sorted: the one a first-image rule would follow
  for (const auto& path : gray) {
    cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR), g;
    cv::cvtColor(bgr, g, cv::COLOR_BGR2GRAY);
    skipzoo::test::cv_write(path, g);
  }
  const auto r = run_cli("train seg --data " + data + " --out " + tmp.file("run") + " " + skipzoo::test::kTiny +
                         " --epochs 1 --no-export");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("channels: RGB (the data set has colour images)"), std::string::npos) << r.output;
  const auto p = run_cli("--threads 1 predict --model " + tmp.file("run") + " --input " + data + "/val/images --out " +
                         tmp.file("pred"));
  EXPECT_EQ(p.code, 0) << p.output;
}

TEST(Reliability, NumbersInFlagsAreCheckedWithTheFlagTheTextAndWhatWasExpected) {
  TempDir tmp;
  for (const char* spec : {"identity:99999999999999999999", "voc:abc", "0,2x5"}) {
    const auto r = run_cli("train seg --data " + shapes_set() + " --out " + tmp.file("run") + " --mask-values " + spec);
    EXPECT_EQ(r.code, 2) << spec << ": " << r.output;
    EXPECT_NE(r.output.find("--mask-values"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(spec), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("expected"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("stoll"), std::string::npos) << r.output;
  }
}

TEST(Reliability, ExitStatusesAreTheDocumentedOnes) {
  auto r = run_cli("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("Exit status: 0 success, 1 a runtime or data error"), std::string::npos) << r.output;
  r = run_cli("train seg --no-such-flag");
  EXPECT_EQ(r.code, 2) << r.output;  // CLI11's own codes (105-109) do not leak
  r = run_cli("train seg --data " + shapes_set() + " --out /tmp --epochs zero");
  EXPECT_EQ(r.code, 2) << r.output;
  r = run_cli("predict --model /nonexistent/model.ts --input " + shapes_set() + " --out /tmp/x");
  EXPECT_EQ(r.code, 1) << r.output;
}

TEST(Reliability, AResumedEpochLogsTheLossOfTheUninterruptedRun) {
  TempDir tmp;
  const auto whole = tmp.file("whole"), cut = tmp.file("cut"), log = tmp.file("log.txt");
  const std::string flags = "--epochs 4 --patches-per-image 6 --no-export --layout contiguous --val-every 100";
  auto r = run_cli(train_seg(whole, flags));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto cmd = "exec " + std::string(SKIPZOO_CLI) + " " + train_seg(cut, flags) + " > " + log + " 2>&1";
  ASSERT_EQ(skipzoo::test::interrupt_after(cmd, log, "epoch 2/4", 120), 130) << skipzoo::test::read_bytes(log);
  r = run_cli("train seg --resume " + cut);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto a = nlohmann::json::parse(skipzoo::test::read_bytes(whole + "/metrics.json"));
  const auto b = nlohmann::json::parse(skipzoo::test::read_bytes(cut + "/metrics.json"));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const double x = a[i]["train_loss"].get<double>(), y = b[i]["train_loss"].get<double>();
    EXPECT_NEAR(x, y, 1e-3 * std::abs(x)) << "epoch " << i + 1;
  }
}

// The background line once left std::cout at one significant digit: "best val mIoU 1".
TEST(Reliability, TheSummaryPrintsTheBestMetricWithItsDigits) {
  TempDir tmp;
  const auto r = run_cli(train_seg(tmp.file("run"), "--epochs 1 --no-export"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto metrics = nlohmann::json::parse(skipzoo::test::read_bytes(tmp.file("run") + "/metrics.json"));
  std::ostringstream expected;
  expected << "best val mIoU " << metrics.back()["val_mIoU"].get<double>() << " at epoch 1";
  EXPECT_NE(r.output.find(expected.str()), std::string::npos) << expected.str() << "\n" << r.output;
}
