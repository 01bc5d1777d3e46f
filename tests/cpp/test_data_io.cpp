// Image IO, tensor conversion and every bad-file case, checked against OpenCV/torch directly.
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <skipzoo/data.h>

#include "png_writer.h"
#include "test_util.h"

namespace data = skipzoo::data;
using skipzoo::test::TempDir;
const auto error_of = skipzoo::test::error_of<data::DataError>;

namespace {
cv::Mat bgr_gradient(int h, int w) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(uint8_t(10 + x), uint8_t(100 + y), uint8_t(200 + x - y));
  return m;
}
}  // namespace

TEST(DataImageRead, ColourComesBackInRgbOrderInEveryLosslessFormat) {
  TempDir dir;
  const cv::Mat bgr = bgr_gradient(5, 7);
  for (const char* ext : {".png", ".bmp", ".tif"}) {
    const auto path = dir.file(std::string("a") + ext);
    skipzoo::test::cv_write(path, bgr);
    const cv::Mat rgb = data::read_image(path);
    ASSERT_EQ(rgb.type(), CV_8UC3) << ext;
    for (int y = 0; y < 5; ++y)
      for (int x = 0; x < 7; ++x) {
        const auto b = bgr.at<cv::Vec3b>(y, x), r = rgb.at<cv::Vec3b>(y, x);
        ASSERT_EQ(r, cv::Vec3b(b[2], b[1], b[0])) << ext << " at " << x << "," << y;
      }
  }
  // JPEG is lossy: same size and channels, values close.
  const auto jpg = dir.file("a.jpg");
  skipzoo::test::cv_write(jpg, cv::Mat(8, 8, CV_8UC3, cv::Scalar(20, 120, 220)));
  const cv::Mat rgb = data::read_image(jpg);
  ASSERT_EQ(rgb.size(), cv::Size(8, 8));
  EXPECT_NEAR(rgb.at<cv::Vec3b>(3, 3)[0], 220, 4);
  EXPECT_NEAR(rgb.at<cv::Vec3b>(3, 3)[2], 20, 4);
}

TEST(DataImageRead, SixteenBitGrayAlphaAndChannelForcing) {
  TempDir dir;
  cv::Mat gray16(3, 4, CV_16U, cv::Scalar(40000));
  gray16.at<uint16_t>(1, 2) = 123;
  skipzoo::test::cv_write(dir.file("g16.png"), gray16);
  const cv::Mat g = data::read_image(dir.file("g16.png"));
  ASSERT_EQ(g.type(), CV_16U);
  EXPECT_EQ(g.at<uint16_t>(0, 0), 40000);
  EXPECT_EQ(g.at<uint16_t>(1, 2), 123);

  cv::Mat bgra(2, 2, CV_8UC4, cv::Scalar(10, 20, 30, 77));
  skipzoo::test::cv_write(dir.file("a.png"), bgra);
  const cv::Mat dropped = data::read_image(dir.file("a.png"));
  ASSERT_EQ(dropped.type(), CV_8UC3);
  EXPECT_EQ(dropped.at<cv::Vec3b>(0, 0), cv::Vec3b(30, 20, 10));
  data::ImageReadOptions keep;
  keep.keep_alpha = true;
  const cv::Mat kept = data::read_image(dir.file("a.png"), keep);
  ASSERT_EQ(kept.type(), CV_8UC4);
  EXPECT_EQ(kept.at<cv::Vec4b>(1, 1), cv::Vec4b(30, 20, 10, 77));

  data::ImageReadOptions as_gray;
  as_gray.channels = data::Channels::Gray;
  const cv::Mat luma = data::read_image(dir.file("a.png"), as_gray);
  ASSERT_EQ(luma.type(), CV_8U);
  EXPECT_NEAR(luma.at<uint8_t>(0, 0), 0.299 * 30 + 0.587 * 20 + 0.114 * 10, 1.0);  // ITU-R 601 luma
  data::ImageReadOptions as_rgb;
  as_rgb.channels = data::Channels::RGB;
  const cv::Mat rgb16 = data::read_image(dir.file("g16.png"), as_rgb);
  ASSERT_EQ(rgb16.type(), CV_16UC3);
  using Vec3u16 = cv::Vec<uint16_t, 3>;
  EXPECT_EQ(rgb16.at<Vec3u16>(1, 2), Vec3u16(123, 123, 123));
}

TEST(DataImageTensor, MatchesFromBlobReferenceForRoisAndBothDepths) {
  cv::Mat big(20, 30, CV_8UC3);
  cv::randu(big, 0, 256);
  const cv::Mat roi = big(cv::Rect(3, 4, 11, 7));  // not contiguous
  const data::Normalization norm{{0.1f, 0.2f, 0.3f}, {0.5f, 0.25f, 2.0f}};
  const auto t = data::image_to_tensor(roi, norm);
  const cv::Mat copy = roi.clone();
  const auto ref = (torch::from_blob(copy.data, {7, 11, 3}, torch::kUInt8).permute({2, 0, 1}).to(torch::kFloat) / 255.0 -
                    torch::tensor({0.1f, 0.2f, 0.3f}).view({3, 1, 1})) /
                   torch::tensor({0.5f, 0.25f, 2.0f}).view({3, 1, 1});
  ASSERT_EQ(t.sizes(), torch::IntArrayRef({3, 7, 11}));
  EXPECT_TRUE(torch::allclose(t, ref, 1e-5, 1e-6));

  cv::Mat m16(4, 5, CV_16U);
  cv::randu(m16, 0, 65536);
  const auto t16 = data::image_to_tensor(m16);
  const auto ref16 = torch::from_blob(m16.data, {1, 4, 5}, torch::kInt16).to(torch::kInt32).bitwise_and(0xFFFF).to(torch::kFloat) / 65535.0;
  EXPECT_TRUE(torch::allclose(t16, ref16, 1e-6, 1e-7));
  EXPECT_THROW(data::image_to_tensor(roi, data::Normalization{{0.1f, 0.2f}, {}}), std::invalid_argument);
  EXPECT_THROW(data::image_to_tensor(roi, data::Normalization{{}, {0.0f}}), std::invalid_argument);
}

TEST(DataImageRead, BadFilesNameThePathAndTheReason) {
  TempDir dir;
  skipzoo::test::cv_write(dir.file("good.png"), bgr_gradient(16, 16));
  cv::Mat noise(64, 64, CV_8UC3);  // noise: most of the JPEG is scan data, so half of it has a scan
  cv::randu(noise, 0, 256);
  skipzoo::test::cv_write(dir.file("good.jpg"), noise);
  skipzoo::test::cv_write(dir.file("good.bmp"), bgr_gradient(16, 16));
  const auto png = skipzoo::test::read_bytes(dir.file("good.png"));
  const auto jpg = skipzoo::test::read_bytes(dir.file("good.jpg"));
  const auto bmp = skipzoo::test::read_bytes(dir.file("good.bmp"));

  const auto expect = [&](const std::string& name, const std::string& bytes, const std::string& reason) {
    const auto path = dir.file(name);
    skipzoo::test::write_bytes(path, bytes);
    const auto msg = error_of([&] { data::read_image(path); });
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(reason), std::string::npos) << "expected '" << reason << "' in: " << msg;
  };
  expect("zero.png", "", "empty (0 bytes)");
  expect("text.png", "just some notes\n", "not an image");
  expect("half.png", png.substr(0, png.size() / 2), "truncated PNG");
  expect("noend.png", png.substr(0, png.size() - 12), "before the IEND chunk");
  expect("half.jpg", jpg.substr(0, jpg.size() / 2), "truncated JPEG");
  expect("half.bmp", bmp.substr(0, bmp.size() / 2), "truncated BMP");
  std::string garbled = png;
  const auto idat = garbled.find("IDAT");
  for (size_t i = idat + 4; i < idat + 40; ++i) garbled[i] = static_cast<char>(garbled[i] ^ 0x5A);
  expect("garbled.png", garbled, "chunk IDAT fails its CRC check");
  const auto missing = dir.path() + "/missing.png";
  EXPECT_NE(error_of([&] { data::read_image(missing); }).find("cannot open"), std::string::npos);

  // A PNG whose header says 0 x 5 pixels (a zero-width image).
  const std::string zero_width = std::string("\x89PNG\r\n\x1a\n", 8) + skipzoo::test::png_ihdr(0, 5, 8, 0) +
                                 skipzoo::test::png_chunk("IEND", "");
  expect("zero_width.png", zero_width, "0x5 pixels");
}

TEST(DataImageWrite, RoundTripsRgbAndSixteenBit) {
  TempDir dir;
  cv::Mat rgb(6, 5, CV_8UC3);
  cv::randu(rgb, 0, 256);
  data::write_image(dir.file("x.png"), rgb);
  const cv::Mat back = data::read_image(dir.file("x.png"));
  EXPECT_EQ(cv::norm(back, rgb, cv::NORM_INF), 0);
  // Written as RGB: OpenCV reading it directly sees BGR.
  const cv::Mat raw = cv::imread(dir.file("x.png"), cv::IMREAD_UNCHANGED);
  EXPECT_EQ(raw.at<cv::Vec3b>(2, 3), cv::Vec3b(rgb.at<cv::Vec3b>(2, 3)[2], rgb.at<cv::Vec3b>(2, 3)[1], rgb.at<cv::Vec3b>(2, 3)[0]));
  // A missing folder is created; one that cannot be (a file is in the way) is named with the reason.
  data::write_image(dir.path() + "/new/dir/x.png", rgb);
  EXPECT_EQ(cv::norm(data::read_image(dir.path() + "/new/dir/x.png"), rgb, cv::NORM_INF), 0);
  const auto msg = error_of([&] { data::write_image(dir.file("x.png") + "/y.png", rgb); });
  EXPECT_NE(msg.find("cannot write '" + dir.file("x.png") + "/y.png': cannot create its folder"), std::string::npos) << msg;
  EXPECT_THROW(data::write_image(dir.file("x.unknown"), rgb), data::DataError);
}

// The pixel limit reads the size from every header kind before decoding; fuzz_image_read found
// a TIFF, a JPEG with fill bytes and a BMP core header walking past it to a 1 GB allocation.
TEST(DataImageRead, EveryFormatsHeaderSizeMeetsTheLimitBeforeDecoding) {
  data::ImageReadOptions options;
  options.max_pixels = 1000;
  const auto refused = [&](const std::string& file) {
    const std::vector<uint8_t> bytes(file.begin(), file.end());
    return skipzoo::test::error_of<data::DataError>([&] { data::decode_image(bytes, "x", options); });
  };
  // TIFF, both byte orders: an IFD whose ImageWidth (LONG) and ImageLength (SHORT) say 40000 x 30000.
  const std::string le_tiff = std::string("II*\0\x08\0\0\0", 8) + std::string("\x02\0", 2) +
                              std::string("\x00\x01\x04\0\x01\0\0\0\x40\x9c\0\0", 12) +  // 256, LONG, 40000
                              std::string("\x01\x01\x03\0\x01\0\0\0\x30\x75\0\0", 12) +  // 257, SHORT, 30000
                              std::string(4, '\0');
  EXPECT_NE(refused(le_tiff).find("x: the header declares 40000x30000 pixels"), std::string::npos) << refused(le_tiff);
  const std::string be_tiff = std::string("MM\0*\0\0\0\x08", 8) + std::string("\0\x02", 2) +
                              std::string("\x01\x00\0\x04\0\0\0\x01\0\0\x9c\x40", 12) +
                              std::string("\x01\x01\0\x03\0\0\0\x01\x75\x30\0\0", 12) + std::string(4, '\0');
  EXPECT_NE(refused(be_tiff).find("declares 40000x30000 pixels"), std::string::npos) << refused(be_tiff);

  // JPEG: fill bytes and stray bytes before the start-of-frame (libjpeg skips both), SOF0 saying
  // 60000 x 50000 (height first in the segment).
  cv::Mat small(8, 8, CV_8UC1, cv::Scalar(9));
  std::vector<uint8_t> jpeg;
  ASSERT_TRUE(cv::imencode(".jpg", small, jpeg));
  std::string j(jpeg.begin(), jpeg.end());
  const size_t sof = j.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  j[sof + 5] = static_cast<char>(0xC3), j[sof + 6] = 0x50;  // height 50000
  j[sof + 7] = static_cast<char>(0xEA), j[sof + 8] = 0x60;  // width 60000
  j.insert(sof, std::string("\x12\x34\xFF\xFF\xFF", 5));
  EXPECT_NE(refused(j).find("declares 60000x50000 pixels"), std::string::npos) << refused(j);

  // BMP with the 12-byte OS/2 core header: 16-bit width and height at bytes 18 and 20.
  std::string bmp = std::string("BM", 2) + std::string(12, '\0') + std::string("\x0c\0\0\0", 4) +
                    std::string("\x10\x27\x10\x27", 4) + std::string("\x01\0\x18\0", 4);  // 10000 x 10000, 24-bit
  bmp[2] = static_cast<char>(bmp.size());
  EXPECT_NE(refused(bmp).find("declares 10000x10000 pixels"), std::string::npos) << refused(bmp);
}
