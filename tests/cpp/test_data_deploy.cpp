// The deployment record: round trips, the defaults that live in it, and the errors that name
// the field.
#include <gtest/gtest.h>
#include <skipzoo/data/deploy.h>

#include "test_util.h"

using namespace skipzoo::data;
using skipzoo::test::error_of;

TEST(DeployInfo, RoundTripKeepsEveryFieldAndUnknownKeys) {
  DeployInfo info;
  info.class_names = {"background", "cell", "edge"};
  info.normalization = {{0.5f}, {0.25f}};
  info.patch = {64, 96};
  info.tile = {256, 256};
  info.overlap = 0.25;
  info.mask_mapping = MaskMapping::values({0, 128, 255});
  info.channels = "gray";
  info.extra_json = R"({"layout": {"layout": "contiguous"}})";
  const auto text = info.to_json();
  const auto back = DeployInfo::from_json(text);
  EXPECT_EQ(back.class_names, info.class_names);
  EXPECT_EQ(back.normalization.std, std::vector<float>{0.25f});
  EXPECT_EQ(back.patch.height, 64);
  EXPECT_EQ(back.patch.width, 96);
  EXPECT_EQ(back.tile_side(), 256);
  EXPECT_DOUBLE_EQ(back.overlap, 0.25);
  ASSERT_TRUE(back.mask_mapping.has_value());
  EXPECT_TRUE(*back.mask_mapping == *info.mask_mapping);
  EXPECT_EQ(back.channels, "gray");
  EXPECT_EQ(back.extra_json, R"({"layout":{"layout":"contiguous"}})");
  EXPECT_EQ(back.to_json(), text);
}

TEST(DeployInfo, DefaultsLiveHere) {
  const auto empty = DeployInfo::from_json("{}");
  EXPECT_EQ(empty.names(3), (std::vector<std::string>{"class_0", "class_1", "class_2"}));
  EXPECT_EQ(empty.tile_side(), 512);                  // no patch known: the smallest default tile
  EXPECT_TRUE(empty.mapping(2) == MaskMapping::identity(2));
  EXPECT_EQ(empty.eval_transform().view, EvalView::Whole);
  EXPECT_EQ(empty.eval_transform().crop, 224);
  EXPECT_EQ(empty.eval_transform().resize, 256);      // 224 * 8 / 7, torchvision's ratio
  EXPECT_DOUBLE_EQ(empty.overlap, 0.5);
  DeployInfo big;
  big.patch = {768, 768};
  EXPECT_EQ(big.tile_side(), 768);                    // never below the patch
  EXPECT_EQ(default_tile(128), 512);
  // A whole skipzoo.json reads too: skipzoo's own export keys are not app fields.
  const auto whole = DeployInfo::from_json(R"({"format": "skipzoo.torchscript", "model": {"name": "unet"},
                                              "task": "segmentation", "tile": 300})");
  EXPECT_EQ(whole.tile_side(), 300);
  EXPECT_EQ(whole.extra_json, "{}");
}

TEST(DeployInfo, ErrorsNameTheField) {
  const std::vector<std::pair<std::string, std::string>> bad_json = {
      {R"({"class_names": "abc"})", "'class_names' must be a list of strings"},
      {R"({"normalization": {"mean": [0.5]}})", "'normalization' must be {\"mean\""},
      {R"({"normalization": {"mean": ["a"], "std": [1]}})", "'normalization.mean' must be a list of numbers"},
      {R"({"tile": -3})", "'tile' must be a positive integer or [height, width]"},
      {R"({"patch": [1, 2, 3]})", "'patch' must be a positive integer"},
      {R"({"overlap": "half"})", "'overlap' must be a number"},
      {R"({"mask_mapping": [0, 255]})", "'mask_mapping' must be a JSON object"},
      {R"({"eval_view": "zoom"})", "unknown evaluation view 'zoom'"},
      {R"([1, 2])", "must be a JSON object"},
      {R"({"tile": )", "not valid JSON"}};
  for (const auto& [text, expected] : bad_json) {
    EXPECT_NE(error_of<std::invalid_argument>([&] { DeployInfo::from_json(text); }).find(expected), std::string::npos)
        << text << " -> " << error_of([&] { DeployInfo::from_json(text); });
  }
  const std::vector<std::pair<std::string, std::string>> bad_for_model = {
      {R"({"class_names": ["a", "b"]})", "has 2 names but the model has 3 classes"},
      {R"({"normalization": {"mean": [0.5, 0.5], "std": [1, 1]}})", "one per input channel (1)"},
      {R"({"normalization": {"mean": [0.5], "std": [0]}})", "positive numbers"},
      {R"({"overlap": 1.0})", "[0, 1)"},
      {R"({"mask_mapping": {"kind": "values", "values": [0, 255], "ignore": null}})", "maps to 2 classes"},
      {R"({"channels": "cmyk"})", "'channels' must be auto, gray or rgb"}};
  for (const auto& [text, expected] : bad_for_model) {
    const auto info = DeployInfo::from_json(text);
    EXPECT_NE(error_of<std::invalid_argument>([&] { info.validate(3, 1); }).find(expected), std::string::npos)
        << text << " -> " << error_of([&] { info.validate(3, 1); });
  }
  for (const char* ok : {R"({"normalization": {"mean": [0.5], "std": [0.5]}})",
                         R"({"normalization": {"mean": [], "std": []}})", R"({"class_names": ["a", "b", "c"]})"}) {
    EXPECT_NO_THROW(DeployInfo::from_json(ok).validate(3, 1)) << ok;
  }
}
