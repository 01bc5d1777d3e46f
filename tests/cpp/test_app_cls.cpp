// The classification app end to end through the CLI: a separable task learnt on images of
// mixed sizes, export parity of classes and probabilities, and bad input.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "test_util.h"
#include "engine/run_files.h"

using skipzoo::test::run_cli;
using skipzoo::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Three classes told apart by shape and colour, on noisy backgrounds, 20-60 px, mixed sizes.
void write_class_images(const TempDir& dir, const std::string& root, int per_class) {
  cv::RNG rng(11);
  const std::vector<std::string> classes = {"disc", "square", "bar"};
  for (size_t c = 0; c < classes.size(); ++c) {
    for (int i = 0; i < per_class; ++i) {
      const int w = rng.uniform(20, 61), h = rng.uniform(20, 61);
      cv::Mat image(h, w, CV_8UC3);
      rng.fill(image, cv::RNG::UNIFORM, 0, 80);
      const cv::Point centre(w / 2 + rng.uniform(-3, 4), h / 2 + rng.uniform(-3, 4));
      const int r = std::min(w, h) / 4 + 2;
      const cv::Scalar colour = c == 0 ? cv::Scalar(40, 40, 230) : c == 1 ? cv::Scalar(40, 230, 40) : cv::Scalar(230, 40, 40);
      if (c == 0) cv::circle(image, centre, r, colour, cv::FILLED);
      if (c == 1) cv::rectangle(image, centre - cv::Point(r, r), centre + cv::Point(r, r), colour, cv::FILLED);
      if (c == 2) cv::rectangle(image, {0, centre.y - 3}, {w - 1, centre.y + 3}, colour, cv::FILLED);
      skipzoo::test::cv_write(dir.file(root + "/" + classes[c] + "/" + std::to_string(i) + ".png"), image);
    }
  }
}

const std::string kTiny = "--threads 1 --workers 1 --patch 24 --batch 32 --lr 0.05 --warmup 5";

}  // namespace

TEST(ClsApp, LearnsASeparableTaskAndTheExportAgrees) {
  TempDir tmp;
  write_class_images(tmp, "set", 40);
  const auto run = tmp.file("run");
  auto r = run_cli("train cls --data " + tmp.file("set") + " --out " + run + " " + kTiny + " --epochs 12");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* f : {"best.ckpt", "model.ts", "confusion.csv", "confusion.png", "curves.png", "metrics.csv"}) {
    EXPECT_TRUE(fs::exists(fs::path(run) / f)) << f;
  }
  // Accuracy over every image (the folder has no train/ and val/, so eval takes all of it).
  r = run_cli("--threads 1 eval --model " + run + "/model.ts --data " + tmp.file("set") + " --json " + tmp.file("e.json") +
              " --out " + tmp.file("eval"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto metrics = skipzoo::app::read_json(tmp.file("e.json"));
  EXPECT_GE(metrics["top1"].get<double>(), 0.95) << r.output;
  EXPECT_DOUBLE_EQ(metrics["top5"].get<double>(), 1.0);  // 3 classes: the top 5 hold them all
  EXPECT_EQ(metrics["images"], 120);
  EXPECT_TRUE(fs::exists(tmp.file("eval/confusion.png")));

  // Checkpoint and export: the same classes and probabilities, images of mixed sizes.
  const auto images = tmp.file("set/bar");
  r = run_cli("--threads 1 predict --model " + run + "/best.ckpt --input " + images + " --json " + tmp.file("a.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_cli("--threads 1 predict --model " + run + "/model.ts --input " + images + " --topk 2 --json " +
              tmp.file("b.json") + " --csv " + tmp.file("b.csv"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto a = skipzoo::app::read_json(tmp.file("a.json")), b = skipzoo::app::read_json(tmp.file("b.json"));
  ASSERT_EQ(a.size(), 40u);
  ASSERT_EQ(b.size(), 40u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["top"].size(), 3u);  // --topk 5 clamps to the class count
    EXPECT_EQ(b[i]["top"].size(), 2u);
    EXPECT_EQ(a[i]["top"][0]["class"], b[i]["top"][0]["class"]);
    EXPECT_NEAR(a[i]["top"][0]["probability"].get<double>(), b[i]["top"][0]["probability"].get<double>(), 1e-5);
  }
  EXPECT_NE(skipzoo::test::read_bytes(tmp.file("b.csv")).find("image,rank,class,probability"), std::string::npos);
}

TEST(ClsApp, BadInputGetsClearMessages) {
  TempDir tmp;
  write_class_images(tmp, "set", 4);
  fs::create_directories(tmp.file("set/empty_class"));
  auto r = run_cli("train cls --data " + tmp.file("set") + " --out " + tmp.file("r1") + " " + kTiny + " --epochs 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("empty_class"), std::string::npos) << r.output;

  write_class_images(tmp, "one", 4);
  fs::remove_all(tmp.file("one/square"));
  fs::remove_all(tmp.file("one/bar"));
  r = run_cli("train cls --data " + tmp.file("one") + " --out " + tmp.file("r2") + " " + kTiny + " --epochs 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("nothing to learn"), std::string::npos) << r.output;

  r = run_cli("train cls --data " + tmp.file("one") + " --out " + tmp.file("r3") + " --model unet");
  EXPECT_EQ(r.code, 1);

  // A segmentation export given to a classification dataset, and the other way round.
  r = run_cli("data make-shapes --out " + tmp.file("shapes") + " --count 6 --min-size 32 --max-size 40");
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_cli("train seg --data " + tmp.file("shapes") + " --out " + tmp.file("seg") +
              " --threads 1 --workers 1 --patch 32 --batch 2 --epochs 1 --options '{\"depth\":1,\"base_width\":2}'");
  ASSERT_EQ(r.code, 0) << r.output;
  write_class_images(tmp, "cls", 3);
  r = run_cli("eval --model " + tmp.file("seg/model.ts") + " --data " + tmp.file("cls"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("is a segmentation model but"), std::string::npos) << r.output;
}
