// Patch geometry, foreground oversampling, padding, augmentation alignment, classification views.
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>
#include <skipzoo/data.h>

namespace data = skipzoo::data;

namespace {
data::PatchOptions patch_of(int64_t size) {
  data::PatchOptions p;
  p.size = size;
  return p;
}

data::AugmentOptions spatial_only() {
  auto a = data::AugmentOptions::full();
  a.brightness_prob = a.contrast_prob = a.gamma_prob = a.noise_prob = a.blur_prob = 0;
  return a;
}
}  // namespace

TEST(DataPatchGeometry, EveryWindowLiesInsideThePaddedImageAndContainsItsCentre) {
  data::Rng rng(1);
  for (int trial = 0; trial < 3000; ++trial) {
    const cv::Size image(1 + static_cast<int>(rng.below(300)), 1 + static_cast<int>(rng.below(300)));
    const int extent = 1 + static_cast<int>(rng.below(160));
    const cv::Rect padded = data::padded_bounds(image, extent);
    // Padded: at least extent x extent, containing the image, image centred in it.
    ASSERT_EQ(padded.width, std::max(image.width, extent));
    ASSERT_EQ(padded.height, std::max(image.height, extent));
    ASSERT_EQ(padded & cv::Rect({0, 0}, image), cv::Rect({0, 0}, image));
    ASSERT_LE(std::abs((padded.x + padded.br().x) - image.width), 1);
    const cv::Point centre(static_cast<int>(rng.below(image.width)), static_cast<int>(rng.below(image.height)));
    const bool with_centre = trial % 2 == 0;
    const cv::Rect w = data::patch_window(image, extent, with_centre ? &centre : nullptr, rng);
    ASSERT_EQ(w.size(), cv::Size(extent, extent));
    ASSERT_EQ(w & padded, w) << "window " << w << " outside " << padded << " for image " << image;
    if (with_centre) {
      ASSERT_TRUE(w.contains(centre)) << w << " " << centre;
    }
  }
}

TEST(DataPatchGeometry, UniformWindowsReachEveryOrigin) {
  data::Rng rng(2);
  std::set<int> xs;
  for (int i = 0; i < 400; ++i) xs.insert(data::patch_window({10, 3}, 4, nullptr, rng).x);
  EXPECT_EQ(xs, (std::set<int>{0, 1, 2, 3, 4, 5, 6}));
}

TEST(DataPatchSampling, ForcedPatchesContainTheirClassAndClassesAreChosenUniformly) {
  cv::Mat image(200, 300, CV_8UC3, cv::Scalar::all(90));
  cv::Mat labels(200, 300, CV_8U, cv::Scalar(0));
  labels(cv::Rect(0, 0, 5, 5)) = 1;       // 25 px in a corner
  labels(cv::Rect(290, 195, 3, 3)) = 2;   // 9 px in the opposite corner
  const auto where = data::find_class_locations(labels, 0, 4096);
  ASSERT_EQ(where.classes, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(where.points[0].size(), 25u);
  EXPECT_EQ(where.points[1].size(), 9u);
  int per_class[3] = {0, 0, 0};
  data::Rng rng(3);
  for (int i = 0; i < 600; ++i) {
    const auto p = data::sample_patch(image, labels, where, true, patch_of(64), data::AugmentOptions::off(), rng);
    ASSERT_TRUE(p.forced);
    ASSERT_EQ(p.labels.size(), cv::Size(64, 64));
    ASSERT_GT(cv::countNonZero(p.labels == p.forced_class), 0) << "forced class " << p.forced_class << " missing";
    ++per_class[p.forced_class];
  }
  EXPECT_GT(per_class[1], 240);  // uniform over classes (not pixels): ~300 each
  EXPECT_GT(per_class[2], 240);
  // Capped locations stay spread over the class.
  const auto capped = data::find_class_locations(labels, 0, 10);
  EXPECT_LE(capped.points[0].size(), 10u);
  EXPECT_EQ(capped.points[0].front(), cv::Point(0, 0));
  EXPECT_GE(capped.points[0].back().y, 3);
}

TEST(DataPatchSampling, ForcedShareIsTheLastSlotsOfEachBatch) {
  data::Rng rng(4);
  for (int64_t slot = 0; slot < 3; ++slot)
    for (int i = 0; i < 50; ++i) ASSERT_EQ(data::is_forced_foreground(slot, 3, 1.0 / 3, rng), slot == 2);
  int hits[4] = {0, 0, 0, 0};
  for (int i = 0; i < 3000; ++i)
    for (int64_t slot = 0; slot < 4; ++slot) hits[slot] += data::is_forced_foreground(slot, 4, 1.0 / 3, rng);
  EXPECT_EQ(hits[0], 0);
  EXPECT_EQ(hits[1], 0);
  EXPECT_NEAR(hits[2] / 3000.0, 1.0 / 3, 0.04);  // 4/3 forced: one always, one a third of the time
  EXPECT_EQ(hits[3], 3000);
  EXPECT_FALSE(data::is_forced_foreground(0, 1, 0.0, rng));
  EXPECT_TRUE(data::is_forced_foreground(0, 1, 1.0, rng));
}

TEST(DataPatchSampling, SmallImagesArePaddedNeverResized) {
  cv::Mat image(10, 20, CV_8UC3);
  cv::randu(image, 1, 255);
  const cv::Mat labels(10, 20, CV_8U, cv::Scalar(1));
  data::Rng rng(5);
  auto options = patch_of(32);
  const auto p = data::sample_patch(image, labels, {}, false, options, data::AugmentOptions::off(), rng);
  // Centred: 6 columns and 11 rows of padding before the image.
  const cv::Rect inside(6, 11, 20, 10);
  EXPECT_EQ(p.window, cv::Rect(-6, -11, 32, 32));
  EXPECT_EQ(cv::countNonZero(p.labels == 1), 200);
  EXPECT_EQ(cv::countNonZero(p.labels(inside) == 1), 200);
  cv::Mat expected;
  image.convertTo(expected, CV_32F, 1.0 / 255);
  EXPECT_EQ(cv::norm(p.image(inside), expected, cv::NORM_INF), 0);  // bit-exact: no resampling
  EXPECT_EQ(cv::norm(p.image(cv::Rect(0, 0, 32, 11)), cv::NORM_INF), 0);  // constant 0 padding

  options.pad = data::PadMode::Reflect;
  const auto r = data::sample_patch(image, labels, {}, false, options, data::AugmentOptions::off(), rng);
  EXPECT_EQ(cv::countNonZero(r.labels == data::kIgnoreIndex), 32 * 32 - 200);  // the mask is never reflected
  // Row 10 of the patch mirrors image row 1 (reflect-101 about row 0 at patch row 11).
  cv::Mat row1;
  image.row(1).convertTo(row1, CV_32F, 1.0 / 255);
  EXPECT_EQ(cv::norm(r.image(cv::Rect(6, 10, 20, 1)), row1, cv::NORM_INF), 0);
}

TEST(DataAugmentation, FlipsAndQuarterTurnsMatchTorch) {
  cv::Mat m(3, 4, CV_32F);
  for (int i = 0; i < 12; ++i) m.at<float>(i / 4, i % 4) = static_cast<float>(i);
  const auto as_tensor = [](const cv::Mat& a) { return torch::from_blob(a.clone().data, {a.rows, a.cols}, torch::kFloat).clone(); };
  const auto ref = as_tensor(m);
  for (int hf = 0; hf < 2; ++hf)
    for (int vf = 0; vf < 2; ++vf)
      for (int k = 0; k < 4; ++k) {
        data::SpatialDraw d;
        d.hflip = hf, d.vflip = vf, d.rot90 = k;
        cv::Mat out = m.clone();
        data::apply_orientation(out, d);
        auto expected = ref;
        if (hf) expected = expected.flip({1});
        if (vf) expected = expected.flip({0});
        expected = torch::rot90(expected, k, {0, 1});  // counter-clockwise, as numpy
        ASSERT_TRUE(torch::equal(as_tensor(out), expected)) << hf << vf << k;
      }
}

TEST(DataAugmentation, ImageAndMaskStayAlignedUnderFlipsAndQuarterTurnsExactly) {
  // Each pixel stores its own coordinates; the label is a function of them.
  cv::Mat image(120, 150, CV_8UC3), labels(120, 150, CV_8U);
  for (int y = 0; y < 120; ++y)
    for (int x = 0; x < 150; ++x) {
      image.at<cv::Vec3b>(y, x) = cv::Vec3b(uint8_t(x), uint8_t(y), 0);
      labels.at<uint8_t>(y, x) = static_cast<uint8_t>((x / 7 + y / 5) % 4);
    }
  auto aug = spatial_only();
  aug.scale_prob = aug.rotate_prob = 0;
  data::Rng rng(6);
  for (int i = 0; i < 40; ++i) {
    const auto p = data::sample_patch(image, labels, {}, false, patch_of(48), aug, rng);
    for (int y = 0; y < 48; ++y)
      for (int x = 0; x < 48; ++x) {
        const auto& px = p.image.at<cv::Vec3f>(y, x);
        const int sx = static_cast<int>(std::lround(px[0] * 255)), sy = static_cast<int>(std::lround(px[1] * 255));
        ASSERT_EQ(p.labels.at<uint8_t>(y, x), (sx / 7 + sy / 5) % 4) << "sample " << i << " at " << x << "," << y;
      }
  }
}

TEST(DataAugmentation, ImageAndMaskStayAlignedUnderZoomAndRotation) {
  // 12x12 blocks, each coded by (R, G) = (10 + 20 bx, 10 + 20 by); bilinear mixes of two codes
  // never land on a code, so a pixel whose colour is a code lies inside that block.
  cv::Mat image(240, 240, CV_8UC3), labels(240, 240, CV_8U);
  for (int y = 0; y < 240; ++y)
    for (int x = 0; x < 240; ++x) {
      const int bx = x / 12, by = y / 12;
      image.at<cv::Vec3b>(y, x) = cv::Vec3b(uint8_t(10 + 20 * (bx % 12)), uint8_t(10 + 20 * (by % 12)), uint8_t(40 * ((bx / 12) + 2 * (by / 12))));
      labels.at<uint8_t>(y, x) = static_cast<uint8_t>((bx + 3 * by) % 5);
    }
  // Reflect padding: no foreign (constant) colour can blend into a code.
  auto options = patch_of(64);
  options.pad = data::PadMode::Reflect;
  data::Rng rng(7);
  int64_t checked = 0;
  for (int i = 0; i < 30; ++i) {
    const auto p = data::sample_patch(image, labels, {}, false, options, spatial_only(), rng);
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 64; ++x) {
        const auto& px = p.image.at<cv::Vec3f>(y, x);
        const int r = static_cast<int>(std::lround(px[0] * 255)), g = static_cast<int>(std::lround(px[1] * 255)),
                  b = static_cast<int>(std::lround(px[2] * 255));
        if (r % 20 != 10 || g % 20 != 10 || b % 40 != 0) continue;  // a mix at a block edge
        if (p.labels.at<uint8_t>(y, x) == data::kIgnoreIndex) continue;  // outside the image
        const int bx = (r - 10) / 20 + 12 * ((b / 40) % 2), by = (g - 10) / 20 + 12 * ((b / 40) / 2);
        ASSERT_EQ(p.labels.at<uint8_t>(y, x), (bx + 3 * by) % 5) << "sample " << i << " at " << x << "," << y;
        ++checked;
      }
  }
  EXPECT_GT(checked, 30 * 64 * 64 / 3);  // most pixels are block interiors
}

TEST(DataAugmentation, OffIsIdentity) {
  cv::Mat image(40, 50, CV_8UC3);
  cv::randu(image, 0, 256);
  data::Rng rng(8);
  const auto off = data::sample_patch(image, {}, {}, false, patch_of(40), data::AugmentOptions::off(), rng);
  cv::Mat expected;
  image(cv::Rect(off.window.x, 0, 40, 40)).convertTo(expected, CV_32F, 1.0 / 255);
  EXPECT_EQ(cv::norm(off.image, expected, cv::NORM_INF), 0);
}

TEST(DataAugmentation, JsonOptionsRoundTripAndRejectUnknownKeys) {
  auto a = data::AugmentOptions::segmentation();
  a.rotate_degrees = 30;
  a.noise_prob = 0.5;
  const auto b = data::AugmentOptions::from_json(a.to_json());
  EXPECT_EQ(b.rotate_degrees, 30);
  EXPECT_EQ(b.noise_prob, 0.5);
  EXPECT_EQ(data::AugmentOptions::from_json(R"({"hflip": 0})").vflip, 0.5);
  EXPECT_THROW(data::AugmentOptions::from_json(R"({"hflipp": 0})"), std::invalid_argument);
  EXPECT_THROW(data::AugmentOptions::from_json(R"({"hflip": 2})"), std::invalid_argument);
  EXPECT_FALSE(data::AugmentOptions::from_json(R"({"enabled": false})").enabled);
}

TEST(DataClassificationTransforms, TrainCropsAndEvalViewsHaveTheRightSizesAndContent) {
  cv::Mat image(80, 100, CV_8UC3);
  cv::randu(image, 0, 256);
  data::Rng rng(10);
  data::ClassificationCrop crop;
  crop.size = 32;
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(data::classification_train_crop(image, crop, data::AugmentOptions::classification(), rng).size(), cv::Size(32, 32));
  crop.mode = data::TrainCrop::RandomPatch;
  crop.size = 120;
  const cv::Mat padded = data::classification_train_crop(image, crop, data::AugmentOptions::off(), rng);
  EXPECT_EQ(padded.size(), cv::Size(120, 120));
  cv::Mat unit;
  image.convertTo(unit, CV_32F, 1.0 / 255);
  EXPECT_EQ(cv::norm(padded(cv::Rect(10, 20, 100, 80)), unit, cv::NORM_INF), 0);

  data::EvalTransform centre{data::EvalView::CenterCrop, 0, 40};
  EXPECT_EQ(cv::norm(data::eval_view(image, centre), image(cv::Rect(30, 20, 40, 40)), cv::NORM_INF), 0);
  data::EvalTransform short_side{data::EvalView::ResizeShortSide, 40, 0};
  EXPECT_EQ(data::eval_view(image, short_side).size(), cv::Size(50, 40));
  EXPECT_EQ(short_side.fixed_size(), cv::Size(0, 0));
  short_side.crop = 36;
  EXPECT_EQ(data::eval_view(image, short_side).size(), cv::Size(36, 36));
  data::EvalTransform whole{data::EvalView::Whole, 0, 0};
  const auto t = data::eval_tensor(image, whole, data::Normalization::symmetric());
  ASSERT_EQ(t.sizes(), torch::IntArrayRef({3, 80, 100}));
  EXPECT_NEAR(t[0][5][7].item<float>(), image.at<cv::Vec3b>(5, 7)[0] / 255.0 / 0.5 - 1.0, 1e-6);
}
