// Dataset layouts: pairing, splits, strict reports listing every problem, skip_bad.
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>
#include <skipzoo/data.h>

#include <filesystem>

#include "test_util.h"

namespace data = skipzoo::data;
using skipzoo::test::TempDir;

namespace {
void write_pair(const TempDir& dir, const std::string& root, const std::string& stem, cv::Size size, int value,
                const std::string& suffix = "") {
  skipzoo::test::cv_write(dir.file(root + "/images/" + stem + ".png"), cv::Mat(size, CV_8UC3, cv::Scalar(40, 80, 120)));
  skipzoo::test::cv_write(dir.file(root + "/masks/" + stem + suffix + ".png"), cv::Mat(size, CV_8U, cv::Scalar(value)));
}

std::string strict_error(const std::string& root, const data::SegmentationLayout& layout) {
  try {
    data::load_segmentation(root, layout);
  } catch (const data::DataError& e) {
    return e.what();
  }
  return "(no DataError)";
}
}  // namespace

TEST(DataSegmentationLayout, PairsByStemWithSuffixAndScansTheMapping) {
  TempDir dir;
  for (const char* stem : {"a", "b", "c"}) write_pair(dir, "set", stem, {9, 7}, 0, "_mask");
  cv::Mat fg(7, 9, CV_8U, cv::Scalar(0));
  fg(cv::Rect(2, 2, 3, 3)) = 255;
  skipzoo::test::cv_write(dir.file("set/masks/b_mask.png"), fg);
  data::SegmentationLayout layout;
  layout.mask_suffix = "_mask";
  layout.split.val_fraction = 0;
  const auto d = data::load_segmentation(dir.path() + "/set", layout);
  ASSERT_EQ(d.train.size(), 3u);
  EXPECT_TRUE(d.val.empty());
  EXPECT_EQ(std::filesystem::path(d.train[1].mask).filename(), "b_mask.png");
  EXPECT_EQ(d.mapping, data::MaskMapping::values({0, 255}));  // scanned: 0/255 -> two classes

  layout.mask_suffix = "";
  const auto msg = strict_error(dir.path() + "/set", layout);
  EXPECT_NE(msg.find("is the mask suffix right?"), std::string::npos) << msg;
}

// Stray values (what lossy JPEG saves around a 0/255 edge) under the scan's class limit become
// classes; the dataset says which, with their pixel counts, and nothing is said for a plain set.
TEST(DataSegmentationLayout, ScannedClassesWithAlmostNoPixelsAreNamed) {
  TempDir dir;
  for (const char* stem : {"a", "b"}) write_pair(dir, "set", stem, {100, 60}, 0);
  cv::Mat mask(60, 100, CV_8U, cv::Scalar(0));
  mask(cv::Rect(0, 0, 50, 60)) = 255;
  skipzoo::test::cv_write(dir.file("set/masks/a.png"), mask);
  data::SegmentationLayout layout;
  layout.split.val_fraction = 0;
  EXPECT_TRUE(data::load_segmentation(dir.path() + "/set", layout).warnings.empty());
  mask.at<uint8_t>(3, 49) = 254;
  mask.at<uint8_t>(4, 50) = 1;
  mask.at<uint8_t>(5, 50) = 1;
  skipzoo::test::cv_write(dir.file("set/masks/a.png"), mask);
  // Four values: 255 is then the ignore value (MaskMapping::from_scan), 0, 1 and 254 the classes,
  // with 8998, 2 and 1 of the 9001 labelled pixels.
  const auto d = data::load_segmentation(dir.path() + "/set", layout);
  EXPECT_EQ(d.mapping, data::MaskMapping::values({0, 1, 254}, 255));
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_NE(d.warnings[0].find("the scan made classes of values 1 (2 pixels), 254 (1 pixel), under 0.1%"),
            std::string::npos)
      << d.warnings[0];
}

TEST(DataSegmentationLayout, StrictListsEveryProblemAndSkipBadDropsThem) {
  TempDir dir;
  const std::string root = dir.path() + "/set";
  write_pair(dir, "set", "good1", {8, 6}, 1);
  write_pair(dir, "set", "good2", {5, 5}, 0);
  skipzoo::test::cv_write(dir.file("set/images/nomask.png"), cv::Mat(4, 4, CV_8UC3, cv::Scalar::all(9)));
  write_pair(dir, "set", "mismatch", {8, 6}, 1);
  skipzoo::test::cv_write(dir.file("set/masks/mismatch.png"), cv::Mat(5, 8, CV_8U, cv::Scalar(1)));
  write_pair(dir, "set", "badvalue", {4, 4}, 7);
  write_pair(dir, "set", "thin", {1, 6}, 0);
  write_pair(dir, "set", "corrupt", {4, 4}, 0);
  skipzoo::test::write_bytes(dir.file("set/images/corrupt.png"), "");
  skipzoo::test::write_bytes(dir.file("set/images/notes.txt"), "hello");
  skipzoo::test::cv_write(dir.file("set/masks/orphan.png"), cv::Mat(4, 4, CV_8U, cv::Scalar(0)));
  skipzoo::test::write_bytes(dir.file("set/images/.DS_Store"), "hidden files are ignored");

  data::SegmentationLayout layout;
  layout.mapping = data::MaskMapping::values({0, 1});
  const auto msg = strict_error(root, layout);
  EXPECT_NE(msg.find("7 problems found"), std::string::npos) << msg;
  for (const char* expected : {"nomask.png: no mask", "mismatch.png: the mask is 8x5 but its image",
                               "badvalue.png: mask values outside the classes and not the ignore value: 7 (16 px)",
                               "thin.png: the image is 1x6 pixels; at least 2x2 is needed",
                               "corrupt.png: the file is empty (0 bytes)", "notes.txt: not an image file",
                               "orphan.png: a mask without an image", "--skip-bad"})
    EXPECT_NE(msg.find(expected), std::string::npos) << "missing '" << expected << "' in:\n" << msg;
  EXPECT_EQ(msg.find(".DS_Store"), std::string::npos);

  std::vector<std::string> warnings;
  layout.check.skip_bad = true;
  layout.check.warn = [&](const std::string& w) { warnings.push_back(w); };
  layout.split.val_fraction = 0;
  const auto d = data::load_segmentation(root, layout);
  ASSERT_EQ(d.train.size(), 2u);
  EXPECT_NE(d.train[0].image.find("good1.png"), std::string::npos);
  EXPECT_NE(d.train[1].image.find("good2.png"), std::string::npos);
  EXPECT_EQ(warnings.size(), 7u);
  EXPECT_EQ(d.skipped, warnings);
}

TEST(DataSegmentationLayout, EmptyAndMissingFoldersAreErrorsEvenWithSkipBad) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/empty/images");
  std::filesystem::create_directories(dir.path() + "/empty/masks");
  data::SegmentationLayout layout;
  layout.check.skip_bad = true;
  EXPECT_NE(strict_error(dir.path() + "/empty", layout).find("no images found"), std::string::npos);
  EXPECT_NE(strict_error(dir.path() + "/nothing", layout).find("no such folder"), std::string::npos);
  std::filesystem::create_directories(dir.path() + "/neither");
  EXPECT_NE(strict_error(dir.path() + "/neither", layout).find("expected the folders images/ and masks/"), std::string::npos);
  write_pair(dir, "split/train", "a", {4, 4}, 0);
  write_pair(dir, "split/train", "b", {4, 4}, 0);
  const auto train_only = data::load_segmentation(dir.path() + "/split", layout);  // split by fraction
  EXPECT_FALSE(train_only.explicit_split);
  EXPECT_EQ(train_only.train.size() + train_only.val.size(), 2u);
  EXPECT_EQ(train_only.val.size(), 1u);
}

TEST(DataSegmentationLayout, ExplicitFoldersOrASeededFractionSplit) {
  TempDir dir;
  write_pair(dir, "explicit/train", "a", {4, 4}, 0);
  write_pair(dir, "explicit/train", "b", {4, 4}, 1);
  write_pair(dir, "explicit/val", "c", {4, 4}, 1);
  const auto e = data::load_segmentation(dir.path() + "/explicit");
  EXPECT_TRUE(e.explicit_split);
  EXPECT_EQ(e.train.size(), 2u);
  ASSERT_EQ(e.val.size(), 1u);
  EXPECT_NE(e.val[0].image.find("val/images/c.png"), std::string::npos);

  for (int i = 0; i < 20; ++i) write_pair(dir, "pool", "p" + std::to_string(100 + i), {3, 3}, i % 2);
  data::SegmentationLayout layout;
  layout.split = {0.25, 7};
  const auto a = data::load_segmentation(dir.path() + "/pool", layout);
  const auto b = data::load_segmentation(dir.path() + "/pool", layout);
  EXPECT_EQ(a.val.size(), 5u);  // round(0.25 * 20)
  EXPECT_EQ(a.train.size(), 15u);
  std::vector<std::string> va, vb, vc;
  for (const auto& s : a.val) va.push_back(s.image);
  for (const auto& s : b.val) vb.push_back(s.image);
  layout.split.seed = 8;
  for (const auto& s : data::load_segmentation(dir.path() + "/pool", layout).val) vc.push_back(s.image);
  EXPECT_EQ(va, vb);
  EXPECT_NE(va, vc);
}

TEST(DataSegmentationLayout, JpegMasksFailTheScanWithAClearHint) {
  TempDir dir;
  cv::Mat mask(64, 64, CV_8U, cv::Scalar(0));
  cv::circle(mask, {32, 32}, 20, cv::Scalar(255), cv::FILLED, cv::LINE_AA);
  skipzoo::test::cv_write(dir.file("set/images/a.png"), cv::Mat(64, 64, CV_8UC3, cv::Scalar::all(100)));
  skipzoo::test::cv_write(dir.file("set/masks/a.jpg"), mask);
  data::SegmentationLayout layout;
  layout.max_scan_classes = 8;
  const auto msg = strict_error(dir.path() + "/set", layout);
  EXPECT_NE(msg.find("distinct values, more than the limit of 8 classes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("JPEG"), std::string::npos) << msg;
}

TEST(DataClassificationLayout, ImageFolderClassesSortedStratifiedSplitAndProblems) {
  TempDir dir;
  for (const char* cls : {"dog", "cat", "10", "2"})
    for (int i = 0; i < 5; ++i)
      skipzoo::test::cv_write(dir.file(std::string("set/") + cls + "/" + std::to_string(i) + ".png"),
                              cv::Mat(3, 4, CV_8U, cv::Scalar(i)));
  skipzoo::test::write_bytes(dir.file("set/LICENSE"), "top-level non-image files are ignored");
  data::ClassificationLayout layout;
  layout.split = {0.2, 3};
  const auto d = data::load_classification(dir.path() + "/set", layout);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"10", "2", "cat", "dog"}));  // mixed: text order
  EXPECT_EQ(d.train.size(), 16u);
  ASSERT_EQ(d.val.size(), 4u);
  std::set<int64_t> val_classes;
  for (const auto& s : d.val) val_classes.insert(s.label);
  EXPECT_EQ(val_classes.size(), 4u);  // one per class
  for (const auto& s : d.train)
    EXPECT_NE(s.image.find("/" + d.class_names[static_cast<size_t>(s.label)] + "/"), std::string::npos);

  skipzoo::test::write_bytes(dir.file("set/cat/broken.png"), "not png");
  skipzoo::test::cv_write(dir.file("set/dog/tiny.png"), cv::Mat(1, 1, CV_8U, cv::Scalar(0)));
  std::filesystem::create_directories(dir.path() + "/set/emptyclass");
  try {
    data::load_classification(dir.path() + "/set", layout);
    FAIL() << "expected a DataError";
  } catch (const data::DataError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("3 problems"), std::string::npos) << msg;
    EXPECT_NE(msg.find("broken.png: not an image"), std::string::npos) << msg;
    EXPECT_NE(msg.find("tiny.png: the image is 1x1 pixels"), std::string::npos) << msg;
    EXPECT_NE(msg.find("emptyclass: class folder without images"), std::string::npos) << msg;
  }
}

TEST(DataClassificationLayout, NumericClassesSortByValueAndCsvWorks) {
  TempDir dir;
  for (const char* cls : {"10", "2", "1"}) skipzoo::test::cv_write(dir.file(std::string("n/") + cls + "/a.png"), cv::Mat(2, 2, CV_8U));
  EXPECT_EQ(data::load_classification(dir.path() + "/n").class_names, (std::vector<std::string>{"1", "2", "10"}));

  skipzoo::test::cv_write(dir.file("csv/img/x.png"), cv::Mat(4, 4, CV_8U));
  skipzoo::test::cv_write(dir.file("csv/img/y.png"), cv::Mat(4, 4, CV_8U));
  skipzoo::test::write_bytes(dir.file("csv/list.csv"), "path,label\nimg/x.png,zebra\nimg/y.png,ant\n");
  data::ClassificationLayout layout;
  layout.split.val_fraction = 0;
  const auto d = data::load_classification(dir.path() + "/csv/list.csv", layout);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"ant", "zebra"}));
  ASSERT_EQ(d.train.size(), 2u);
  for (const auto& s : d.train) EXPECT_EQ(s.label, s.image.find("x.png") != std::string::npos ? 1 : 0);

  skipzoo::test::write_bytes(dir.file("csv/bad.csv"), "img/x.png,zebra\njust-a-path\nimg/missing.png,ant\n");
  try {
    data::load_classification(dir.path() + "/csv/bad.csv", layout);
    FAIL() << "expected a DataError";
  } catch (const data::DataError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bad.csv:2: expected 'path,label'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing.png: cannot open"), std::string::npos) << msg;
  }
  EXPECT_THROW(data::load_classification(dir.path() + "/nowhere"), data::DataError);
}
