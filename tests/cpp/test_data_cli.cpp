// `skipzoo data ...` end to end: make-shapes, stats, check (and its bad-input report), import-idx.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <skipzoo/data.h>
#include <zlib.h>

#include <filesystem>

#include "test_util.h"

namespace data = skipzoo::data;
namespace fs = std::filesystem;
using skipzoo::test::run_cli;
using skipzoo::test::TempDir;

namespace {
std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_TRUE(f);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}

std::string be32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }
}  // namespace

TEST(DataCli, MakeShapesIsRepeatableAndStatsAndCheckReadIt) {
  TempDir dir;
  const std::string a = dir.path() + "/a", b = dir.path() + "/b";
  const std::string args = " --count 6 --min-size 40 --max-size 90 --classes 3 --seed 4";
  const auto made = run_cli("data make-shapes --out " + a + args);
  ASSERT_EQ(made.code, 0) << made.output;
  ASSERT_EQ(run_cli("data make-shapes --out " + b + args).code, 0);
  const auto files = files_in(a);
  ASSERT_EQ(files, files_in(b));
  ASSERT_EQ(files.size(), 13u);  // 6 images, 6 masks, dataset.json
  for (const auto& f : files) EXPECT_EQ(skipzoo::test::read_bytes(a + "/" + f), skipzoo::test::read_bytes(b + "/" + f)) << f;

  int64_t val = 0;
  for (const auto& f : files) {
    if (f.find("/masks/") == std::string::npos) continue;
    val += f.rfind("val/", 0) == 0;
    const cv::Mat mask = cv::imread(a + "/" + f, cv::IMREAD_UNCHANGED);
    const cv::Mat image = cv::imread(a + "/" + f.substr(0, f.find("/masks/")) + "/images/" + fs::path(f).filename().string());
    ASSERT_EQ(mask.type(), CV_8U) << f;
    ASSERT_EQ(mask.size(), image.size()) << f;
    EXPECT_GE(mask.cols, 40);
    EXPECT_LE(mask.cols, 90);
    double lo, hi;
    cv::minMaxLoc(mask, &lo, &hi);
    EXPECT_LE(hi, 3) << f;
  }
  EXPECT_EQ(val, 1);  // round(0.2 * 6)

  const auto stats = run_cli("data stats --data " + a);
  ASSERT_EQ(stats.code, 0) << stats.output;
  EXPECT_NE(stats.output.find("segmentation dataset: 6 images, 3 channels"), std::string::npos) << stats.output;
  EXPECT_NE(stats.output.find("mask values (pixel frequency)"), std::string::npos) << stats.output;
  const auto json_run = run_cli("data stats --json --data " + a);
  ASSERT_EQ(json_run.code, 0);
  const auto j = nlohmann::json::parse(json_run.output.substr(json_run.output.find('{')));
  EXPECT_EQ(j["images"], 6);
  int64_t sized = 0, pixels = 0, mask_pixels = 0;
  for (const auto& s : j["sizes"]) {
    sized += s["images"].get<int64_t>();
    pixels += s["images"].get<int64_t>() * s["width"].get<int64_t>() * s["height"].get<int64_t>();
  }
  for (const auto& [k, n] : j["mask_values"].items()) mask_pixels += n.get<int64_t>();
  EXPECT_EQ(sized, 6);
  EXPECT_EQ(mask_pixels, pixels);
  ASSERT_EQ(j["mean"].size(), 3u);

  const auto check = run_cli("data check --mask-values identity:4 --data " + a);
  ASSERT_EQ(check.code, 0) << check.output;
  EXPECT_NE(check.output.find("5 train, 1 val pairs (train/ and val/ folders)"), std::string::npos) << check.output;
  EXPECT_NE(check.output.find("values 0,1,2,3 -> classes 0..3"), std::string::npos) << check.output;
}

TEST(DataCli, CheckListsEveryBadFileAndSkipBadGoesOn) {
  TempDir dir;
  const std::string root = dir.path() + "/bad";
  ASSERT_EQ(run_cli("data make-shapes --count 4 --min-size 20 --max-size 30 --val-fraction 0 --out " + root).code, 0);
  fs::remove(root + "/train/masks/00001.png");
  skipzoo::test::write_bytes(root + "/train/images/00002.png", "");
  const auto strict = run_cli("data check --data " + root);
  EXPECT_EQ(strict.code, 1);
  EXPECT_NE(strict.output.find("skipzoo: error: " + root + ": 2 problems found"), std::string::npos) << strict.output;
  EXPECT_NE(strict.output.find("00001.png: no mask"), std::string::npos) << strict.output;
  EXPECT_NE(strict.output.find("00002.png: the file is empty (0 bytes)"), std::string::npos) << strict.output;
  const auto skip = run_cli("data check --skip-bad --data " + root);
  EXPECT_EQ(skip.code, 0) << skip.output;
  EXPECT_NE(skip.output.find("warning: skipping"), std::string::npos) << skip.output;
  EXPECT_NE(skip.output.find("2 train, 0 val pairs"), std::string::npos) << skip.output;
  EXPECT_EQ(run_cli("data stats --data " + dir.path() + "/missing").code, 1);
}

TEST(DataCli, ImportIdxWritesAnImageFolderWithTheRightPixels) {
  TempDir dir;
  // Five 3x4 images whose pixel (y, x) is 10 * index + 4 * y + x; labels 0, 1, 2, 1, 0.
  std::string images = std::string("\0\0\x08\x03", 4) + be32(5) + be32(3) + be32(4), labels = std::string("\0\0\x08\x01", 4) + be32(5);
  for (int i = 0; i < 5; ++i) {
    for (int p = 0; p < 12; ++p) images += static_cast<char>(10 * i + p);
    labels += static_cast<char>(std::vector<int>{0, 1, 2, 1, 0}[static_cast<size_t>(i)]);
  }
  write_gz(dir.file("img.gz"), images);
  write_gz(dir.file("lab.gz"), labels);
  const auto out = dir.path() + "/out";
  const auto r = run_cli("data import-idx --images " + dir.path() + "/img.gz --labels " + dir.path() +
                         "/lab.gz --class-names ant,bee,cat --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(files_in(out), (std::vector<std::string>{"ant/00000.png", "ant/00004.png", "bee/00001.png", "bee/00003.png", "cat/00002.png"}));
  const cv::Mat third = data::read_image(out + "/cat/00002.png");
  ASSERT_EQ(third.size(), cv::Size(4, 3));
  EXPECT_EQ(third.at<uint8_t>(2, 1), 20 + 4 * 2 + 1);
  const auto d = data::load_classification(out);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"ant", "bee", "cat"}));
  // --limit: only classes that get images get a folder, so the result is a valid ImageFolder.
  ASSERT_EQ(run_cli("data import-idx --limit 2 --images " + dir.path() + "/img.gz --labels " + dir.path() +
                    "/lab.gz --class-names ant,bee,cat --out " + dir.path() + "/few").code, 0);
  EXPECT_EQ(files_in(dir.path() + "/few"), (std::vector<std::string>{"ant/00000.png", "bee/00001.png"}));
  EXPECT_EQ(data::load_classification(dir.path() + "/few").class_names, (std::vector<std::string>{"ant", "bee"}));

  // Bad input: a truncated file and a label without a class name.
  write_gz(dir.file("short.gz"), images.substr(0, images.size() - 7));
  const auto truncated = run_cli("data import-idx --images " + dir.path() + "/short.gz --labels " + dir.path() +
                                 "/lab.gz --out " + dir.path() + "/o2");
  EXPECT_EQ(truncated.code, 1);
  EXPECT_NE(truncated.output.find("short.gz: truncated IDX data"), std::string::npos) << truncated.output;
  const auto unnamed = run_cli("data import-idx --images " + dir.path() + "/img.gz --labels " + dir.path() +
                               "/lab.gz --class-names ant,bee --out " + dir.path() + "/o3");
  EXPECT_EQ(unnamed.code, 1);
  EXPECT_NE(unnamed.output.find("label 2 of item 2 has no class name"), std::string::npos) << unnamed.output;
}

TEST(DataCli, FashionMosaicLabelsFollowTheItemPixels) {
  const std::string fashion = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  if (!fs::exists(fashion)) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  TempDir dir;
  const auto out = dir.path() + "/m";
  const auto r = run_cli("data fashion-mosaic --count 3 --min-size 64 --max-size 96 --threshold 40 --images " + fashion +
                         " --labels /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  int64_t item_pixels = 0;
  for (const auto& f : files_in(out)) {
    if (f.find("/masks/") == std::string::npos) continue;
    const cv::Mat mask = cv::imread(out + "/" + f, cv::IMREAD_UNCHANGED);
    const cv::Mat image = cv::imread(out + "/" + f.substr(0, f.find("/masks/")) + "/images/" + fs::path(f).filename().string(),
                                     cv::IMREAD_UNCHANGED);
    ASSERT_EQ(image.type(), CV_8U);
    for (int y = 0; y < mask.rows; ++y)
      for (int x = 0; x < mask.cols; ++x) {
        const int label = mask.at<uint8_t>(y, x), v = image.at<uint8_t>(y, x);
        ASSERT_LE(label, 10);
        if (label > 0) ASSERT_GT(v, 40) << f;  // item pixels are brighter than the threshold
        else ASSERT_LE(v, 40) << f;             // background stays below it
        item_pixels += label > 0;
      }
  }
  EXPECT_GT(item_pixels, 100);
}
