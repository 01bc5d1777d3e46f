// Mask value mappings: lists, identity, colour tables (VOC), scans, inverse, JSON, errors.
#include <gtest/gtest.h>
#include <skipzoo/data.h>

#include "test_util.h"

namespace data = skipzoo::data;
using skipzoo::test::error_of;
using skipzoo::test::TempDir;

namespace {
cv::Mat gray(std::initializer_list<int> values, int rows, int cols, int type = CV_8U) {
  cv::Mat m(rows, cols, type);
  auto it = values.begin();
  for (int y = 0; y < rows; ++y)
    for (int x = 0; x < cols; ++x, ++it) {
      if (type == CV_8U) m.at<uint8_t>(y, x) = static_cast<uint8_t>(*it);
      else m.at<uint16_t>(y, x) = static_cast<uint16_t>(*it);
    }
  return m;
}
}  // namespace

TEST(DataMaskMapping, ZeroTwoFiftyFiveIsTwoClassesAndListedValuesMapInOrder) {
  const auto binary = data::MaskMapping::values({0, 255});  // 255 listed: a class, not ignore
  EXPECT_FALSE(binary.has_ignore());
  EXPECT_EQ(binary.num_classes(), 2);
  const cv::Mat labels = binary.map(gray({0, 255, 255, 0}, 2, 2), "m.png");
  EXPECT_EQ(labels.at<uint8_t>(0, 0), 0);
  EXPECT_EQ(labels.at<uint8_t>(0, 1), 1);
  EXPECT_EQ(labels.at<uint8_t>(1, 0), 1);

  const auto listed = data::MaskMapping::values({50, 10, 30});  // order of the list, not of the values
  const cv::Mat l2 = listed.map(gray({10, 30, 50, 255}, 1, 4), "m.png");
  EXPECT_EQ(l2.at<uint8_t>(0, 0), 1);
  EXPECT_EQ(l2.at<uint8_t>(0, 1), 2);
  EXPECT_EQ(l2.at<uint8_t>(0, 2), 0);
  EXPECT_EQ(l2.at<uint8_t>(0, 3), data::kIgnoreIndex);  // the default ignore value 255

  const auto wide = data::MaskMapping::values({0, 1000, 65535}, -1);
  const cv::Mat l3 = wide.map(gray({65535, 0, 1000}, 1, 3, CV_16U), "m16.png");
  EXPECT_EQ(l3.at<uint8_t>(0, 0), 2);
  EXPECT_EQ(l3.at<uint8_t>(0, 2), 1);
}

TEST(DataMaskMapping, ValuesOutsideTheClassesNameTheFileValuesAndCounts) {
  const auto m = data::MaskMapping::values({0, 1});
  const auto msg = error_of([&] { m.map(gray({0, 1, 7, 7, 9, 255}, 2, 3), "masks/a.png"); });
  EXPECT_NE(msg.find("masks/a.png"), std::string::npos) << msg;
  EXPECT_NE(msg.find("7 (2 px)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("9 (1 px)"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("255"), msg.find("ignore 255") + 7) << "255 is the ignore value, not a bad value: " << msg;

  cv::Mat colour(1, 2, CV_8UC3, cv::Scalar(0, 0, 0));
  colour.at<cv::Vec3b>(0, 1) = cv::Vec3b(200, 10, 10);
  EXPECT_NE(error_of([&] { m.map(colour, "c.png"); }).find("colour image"), std::string::npos);
  // A gray mask stored as RGB (all channels equal) is still a gray mask.
  cv::Mat gray_rgb(1, 2, CV_8UC3, cv::Scalar(1, 1, 1));
  EXPECT_EQ(m.map(gray_rgb, "g.png").at<uint8_t>(0, 1), 1);
}

TEST(DataMaskMapping, VocPaletteMatchesTheKnownColours) {
  const auto voc = data::MaskMapping::voc();
  ASSERT_EQ(voc.num_classes(), 21);
  // Pascal VOC's published colours: background, aeroplane, bicycle, bird, boat, ..., person.
  EXPECT_EQ(voc.keys()[0], 0x000000u);
  EXPECT_EQ(voc.keys()[1], 0x800000u);
  EXPECT_EQ(voc.keys()[2], 0x008000u);
  EXPECT_EQ(voc.keys()[3], 0x808000u);
  EXPECT_EQ(voc.keys()[4], 0x000080u);
  EXPECT_EQ(voc.keys()[15], 0xC08080u);
  EXPECT_EQ(voc.ignore_key(), 0xE0E0C0u);  // the "void" border colour

  cv::Mat rgb(1, 4, CV_8UC3);
  rgb.at<cv::Vec3b>(0, 0) = {128, 0, 0};
  rgb.at<cv::Vec3b>(0, 1) = {192, 128, 128};
  rgb.at<cv::Vec3b>(0, 2) = {224, 224, 192};
  rgb.at<cv::Vec3b>(0, 3) = {0, 0, 0};
  const cv::Mat labels = voc.map(rgb, "voc.png");
  EXPECT_EQ(labels.at<uint8_t>(0, 0), 1);
  EXPECT_EQ(labels.at<uint8_t>(0, 1), 15);
  EXPECT_EQ(labels.at<uint8_t>(0, 2), data::kIgnoreIndex);
  EXPECT_EQ(labels.at<uint8_t>(0, 3), 0);
  rgb.at<cv::Vec3b>(0, 3) = {0, 0, 255};
  EXPECT_NE(error_of([&] { voc.map(rgb, "voc.png"); }).find("#0000ff (1 px)"), std::string::npos);
}

TEST(DataMaskMapping, UnmapIsTheInverseAndWritesOriginalValues) {
  TempDir dir;
  const auto binary = data::MaskMapping::values({0, 255});
  cv::Mat labels = (cv::Mat_<uint8_t>(2, 2) << 0, 1, 1, 0);
  data::write_mask(dir.file("pred.png"), labels, binary);
  const cv::Mat raw = cv::imread(dir.file("pred.png"), cv::IMREAD_UNCHANGED);
  EXPECT_EQ(raw.at<uint8_t>(0, 1), 255);
  EXPECT_EQ(raw.at<uint8_t>(0, 0), 0);
  EXPECT_EQ(cv::norm(data::read_mask(dir.file("pred.png"), binary), labels, cv::NORM_INF), 0);

  const auto voc = data::MaskMapping::voc();
  cv::Mat ids = (cv::Mat_<uint8_t>(1, 3) << 15, 255, 2);
  const cv::Mat colours = voc.unmap(ids);
  EXPECT_EQ(colours.at<cv::Vec3b>(0, 0), cv::Vec3b(192, 128, 128));
  EXPECT_EQ(colours.at<cv::Vec3b>(0, 1), cv::Vec3b(224, 224, 192));
  EXPECT_EQ(cv::norm(voc.map(colours, "x"), ids, cv::NORM_INF), 0);

  const auto wide = data::MaskMapping::values({0, 1000});
  EXPECT_EQ(wide.unmap((cv::Mat_<uint8_t>(1, 1) << 1)).at<uint16_t>(0, 0), 1000);
  EXPECT_THROW(binary.unmap((cv::Mat_<uint8_t>(1, 1) << 7)), std::invalid_argument);
}

TEST(DataMaskMapping, JsonAndSpecRoundTrips) {
  for (const auto& m : {data::MaskMapping::values({0, 255}), data::MaskMapping::values({3, 1, 2}, 9),
                        data::MaskMapping::voc(5), data::MaskMapping::identity(4)}) {
    EXPECT_EQ(data::MaskMapping::from_json(m.to_json()), m) << m.to_json();
  }
  EXPECT_EQ(data::MaskMapping::values({0, 255}).to_json(), R"({"ignore":null,"kind":"values","values":[0,255]})");
  EXPECT_EQ(data::MaskMapping::parse("0,255"), data::MaskMapping::values({0, 255}));
  EXPECT_EQ(data::MaskMapping::parse("identity:3"), data::MaskMapping::values({0, 1, 2}));
  EXPECT_EQ(data::MaskMapping::parse("voc"), data::MaskMapping::voc());
  EXPECT_EQ(data::MaskMapping::parse("#000000,#ff0000").keys(), (std::vector<uint32_t>{0, 0xff0000}));
  EXPECT_THROW(data::MaskMapping::parse("0,x"), std::invalid_argument);
  EXPECT_THROW(data::MaskMapping::parse("0,0"), std::invalid_argument);
  EXPECT_THROW(data::MaskMapping::parse("#12345"), std::invalid_argument);
  EXPECT_THROW(data::MaskMapping::from_json("{\"kind\":\"values\"}"), std::invalid_argument);
}

TEST(DataMaskMapping, ScanMapsDistinctValuesAndStopsPastTheLimit) {
  bool colour = true;
  const auto counts = data::mask_key_counts(gray({0, 0, 1, 2, 255, 2}, 2, 3), &colour);
  EXPECT_FALSE(colour);
  EXPECT_EQ(counts, (std::map<uint32_t, int64_t>{{0, 2}, {1, 1}, {2, 2}, {255, 1}}));
  const auto scanned = data::MaskMapping::from_scan(counts, false, 32, 255, "root");
  EXPECT_EQ(scanned.keys(), (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_TRUE(scanned.has_ignore());
  // 0/255 masks: two classes, nothing ignored.
  EXPECT_EQ(data::MaskMapping::from_scan({{0, 5}, {255, 5}}, false, 32, 255, "root").num_classes(), 2);

  std::map<uint32_t, int64_t> many;
  for (uint32_t v = 0; v < 40; ++v) many[v * 3] = 1;
  const auto msg = error_of([&] { data::MaskMapping::from_scan(many, false, 32, 255, "data/masks"); });
  EXPECT_NE(msg.find("data/masks"), std::string::npos) << msg;
  EXPECT_NE(msg.find("40 distinct values"), std::string::npos) << msg;
  EXPECT_NE(msg.find("JPEG"), std::string::npos) << msg;
}

TEST(DataMaskMapping, LabelTensorsRoundTrip) {
  const cv::Mat labels = (cv::Mat_<uint8_t>(2, 3) << 0, 1, 2, 255, 1, 0);
  const auto t = data::labels_to_tensor(labels);
  EXPECT_EQ(t.scalar_type(), torch::kLong);
  EXPECT_TRUE(torch::equal(t, torch::tensor({{0, 1, 2}, {255, 1, 0}}, torch::kLong)));
  EXPECT_EQ(cv::norm(data::tensor_to_labels(t), labels, cv::NORM_INF), 0);
  EXPECT_THROW(data::tensor_to_labels(torch::tensor({{-1}}, torch::kLong)), std::invalid_argument);
}

// A gray mask under a colour table stands for (g, g, g); a 16-bit one too, for values up to 255.
// Above 255 no colour fits: check_counts() and map() both refuse, with the same reason (they
// disagreed before fuzz_mask_mapping found it, and 65535 * 0x010101 wrapped to #fffeff).
TEST(DataMaskMapping, SixteenBitGrayUnderAColourTable) {
  const auto mapping = data::MaskMapping::parse("#000000,#808080,#fffeff");
  cv::Mat low = (cv::Mat_<uint16_t>(1, 3) << 0, 128, 0);
  const cv::Mat labels = mapping.map(low, "low.png");
  EXPECT_EQ(labels.at<uint8_t>(0, 0), 0);
  EXPECT_EQ(labels.at<uint8_t>(0, 1), 1);
  EXPECT_EQ(mapping.check_counts(data::mask_key_counts(low, nullptr), false), "");

  cv::Mat high = (cv::Mat_<uint16_t>(1, 3) << 0, 65535, 1000);
  const auto why = mapping.check_counts(data::mask_key_counts(high, nullptr), false);
  EXPECT_NE(why.find("2 pixels of this gray mask are above 255"), std::string::npos) << why;
  const auto msg = error_of<data::DataError>([&] { mapping.map(high, "high.png"); });
  EXPECT_NE(msg.find("high.png: 2 pixels of this gray mask are above 255"), std::string::npos) << msg;
}
