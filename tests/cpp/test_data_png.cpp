// The libdeflate PNG path against known pixels and against libpng (through cv::imdecode), on
// files from the tests' own writer: every filter type, 8/16 bits, gray/RGB/RGBA, odd sizes,
// split IDATs; and every file it must hand to OpenCV instead.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <skipzoo/data.h>

#include "png_decode.h"
#include "png_writer.h"
#include "test_util.h"

namespace data = skipzoo::data;
using skipzoo::test::encode_png;
using skipzoo::test::png_chunk;
using skipzoo::test::PngLayout;

namespace {
std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

cv::Mat random_pixels(int rows, int cols, int type, uint64_t seed) {
  cv::Mat m(rows, cols, type);
  cv::RNG rng(seed);
  rng.fill(m, cv::RNG::UNIFORM, 0, CV_MAT_DEPTH(type) == CV_16U ? 65536 : 256);
  // Smooth parts too, so the filters see small differences as well as noise.
  if (rows > 2) m.rowRange(0, rows / 2).setTo(cv::Scalar::all(CV_MAT_DEPTH(type) == CV_16U ? 40000 : 200));
  return m;
}

// What cv::imdecode gives: BGR(A) order.
cv::Mat to_bgr(const cv::Mat& file_order) {
  if (file_order.channels() == 1) return file_order;
  cv::Mat bgr;
  cv::cvtColor(file_order, bgr, file_order.channels() == 3 ? cv::COLOR_RGB2BGR : cv::COLOR_RGBA2BGRA);
  return bgr;
}

bool same(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}
}  // namespace

TEST(DataPng, FastPathGivesTheExactPixelsAndAgreesWithLibpng) {
  int cases = 0;
  for (int type : {CV_8UC1, CV_8UC3, CV_8UC4, CV_16UC1, CV_16UC3, CV_16UC4}) {
    for (auto [rows, cols] : {std::pair{1, 1}, {1, 7}, {7, 1}, {13, 9}, {37, 64}}) {
      for (int filter : {-1, 0, 1, 2, 3, 4}) {
        for (int idat_chunk : {1 << 20, 7}) {
          const cv::Mat pixels = random_pixels(rows, cols, type, static_cast<uint64_t>(++cases));
          PngLayout layout;
          layout.filter = filter;
          layout.idat_chunk = idat_chunk;
          const auto png = bytes_of(encode_png(pixels, layout));
          const cv::Mat expected = to_bgr(pixels);
          cv::Mat fast;
          ASSERT_TRUE(data::decode_png_fast(png, fast)) << "type " << type << " " << rows << "x" << cols;
          EXPECT_TRUE(same(fast, expected)) << "type " << type << " " << rows << "x" << cols << " filter " << filter;
          EXPECT_TRUE(same(cv::imdecode(png, cv::IMREAD_UNCHANGED), expected)) << "libpng disagrees with the writer";
        }
      }
    }
  }
  EXPECT_EQ(cases, 6 * 5 * 6 * 2);
  // Large images, one past the scratch memory a thread keeps (16 MiB), decoded twice in a row.
  for (int type : {CV_8UC3, CV_16UC4}) {
    cv::Mat pixels(1100, 1300, type);
    cv::randu(pixels, 0, CV_MAT_DEPTH(type) == CV_16U ? 65536 : 256);
    pixels.rowRange(0, 900).setTo(cv::Scalar::all(77));  // mostly flat: quick to compress
    const auto png = bytes_of(encode_png(pixels));
    for (int again = 0; again < 2; ++again) {
      cv::Mat fast;
      ASSERT_TRUE(data::decode_png_fast(png, fast));
      EXPECT_TRUE(same(fast, to_bgr(pixels)));
    }
  }
}

TEST(DataPng, AncillaryChunksThatOpenCVIgnoresKeepTheFastPath) {
  const cv::Mat pixels = random_pixels(20, 30, CV_8UC3, 1);
  PngLayout layout;  // gamma, significant bits, a suggested palette, a text chunk
  layout.before_idat = png_chunk("gAMA", skipzoo::test::be32_bytes(100000)) + png_chunk("sBIT", std::string(3, '\5')) +
                       png_chunk("PLTE", std::string(6, '\x40')) + png_chunk("tEXt", std::string("Comment\0hi", 10));
  const auto png = bytes_of(encode_png(pixels, layout));
  cv::Mat fast;
  ASSERT_TRUE(data::decode_png_fast(png, fast));
  EXPECT_TRUE(same(fast, cv::imdecode(png, cv::IMREAD_UNCHANGED)));
  EXPECT_TRUE(same(fast, to_bgr(pixels)));
}

TEST(DataPng, PaletteImagesExpandToTheirColours) {
  std::string entries;  // 200 colours; indices are 8-bit samples
  for (int i = 0; i < 200; ++i) entries += std::string{char(i), char(255 - i), char(i / 2)};
  PngLayout layout;
  layout.color = 3;
  layout.before_idat = png_chunk("PLTE", entries);
  cv::Mat indices = random_pixels(19, 23, CV_8UC1, 5);
  indices.setTo(199, indices >= 200);
  const auto png = bytes_of(encode_png(indices, layout));
  cv::Mat fast;
  ASSERT_TRUE(data::decode_png_fast(png, fast));
  EXPECT_TRUE(same(fast, cv::imdecode(png, cv::IMREAD_UNCHANGED)));
  ASSERT_EQ(fast.type(), CV_8UC3);
  for (int y = 0; y < indices.rows; ++y)
    for (int x = 0; x < indices.cols; ++x) {
      const int i = indices.at<uint8_t>(y, x);
      ASSERT_EQ(fast.at<cv::Vec3b>(y, x), cv::Vec3b(static_cast<uint8_t>(i / 2), static_cast<uint8_t>(255 - i), static_cast<uint8_t>(i)));
    }
  // An index past the palette, a palette with transparency, a palette in a gray image: libpng's.
  cv::Mat outside = indices.clone();
  outside.at<uint8_t>(7, 3) = 200;
  cv::Mat m;
  EXPECT_FALSE(data::decode_png_fast(bytes_of(encode_png(outside, layout)), m));
  PngLayout transparent = layout;
  transparent.before_idat += png_chunk("tRNS", std::string(4, '\0'));
  EXPECT_FALSE(data::decode_png_fast(bytes_of(encode_png(indices, transparent)), m));
  PngLayout gray = layout;
  gray.color = 0;
  EXPECT_FALSE(data::decode_png_fast(bytes_of(encode_png(indices, gray)), m));
  PngLayout no_palette;
  no_palette.color = 3;
  EXPECT_FALSE(data::decode_png_fast(bytes_of(encode_png(indices, no_palette)), m));
  EXPECT_TRUE(m.empty());
}

TEST(DataPng, OtherPngsGoToOpenCVAndDecodeAsBefore) {
  skipzoo::test::TempDir dir;
  const cv::Mat rgb = random_pixels(12, 10, CV_8UC3, 2);
  const auto check_declined = [&](const std::string& name, const std::string& png, int opencv_channels) {
    cv::Mat fast;
    EXPECT_FALSE(data::decode_png_fast(bytes_of(png), fast)) << name;
    EXPECT_TRUE(fast.empty()) << name;
    const auto path = dir.file(name + ".png");
    skipzoo::test::write_bytes(path, png);
    data::ImageReadOptions keep;
    keep.keep_alpha = true;
    EXPECT_EQ(data::read_image(path, keep).channels(), opencv_channels) << name;  // decoded by OpenCV
  };
  PngLayout trns;  // a transparent colour: OpenCV adds an alpha channel
  trns.before_idat = png_chunk("tRNS", std::string(6, '\0'));
  check_declined("trns", encode_png(rgb, trns), 4);
  PngLayout gray_alpha;  // colour type 4: two samples per pixel, as 8-bit "2-channel" data
  gray_alpha.color = 4;
  cv::Mat ga(12, 10, CV_8UC2, cv::Scalar(90, 255));
  check_declined("gray_alpha", encode_png(ga, gray_alpha), 4);
}

TEST(DataPng, BrokenFilesAreLeftToLibpng) {
  const cv::Mat pixels = random_pixels(16, 16, CV_8UC3, 4);
  const std::string good = encode_png(pixels);
  cv::Mat out;
  ASSERT_TRUE(data::decode_png_fast(bytes_of(good), out));
  const auto declines = [](const std::string& png) {
    cv::Mat m;
    return !data::decode_png_fast(bytes_of(png), m) && m.empty();
  };
  const size_t idat = good.find("IDAT");
  std::string bad_crc = good;
  bad_crc[idat + 10] ^= 0x55;
  EXPECT_TRUE(declines(bad_crc));
  // Valid CRCs around broken zlib data, too little data, too much data, an unknown filter type.
  const std::string head = good.substr(0, idat - 4);
  const auto with_idat = [&](const std::string& z) { return head + png_chunk("IDAT", z) + png_chunk("IEND", ""); };
  const std::string rows = skipzoo::test::png_filtered_rows(pixels, 1);
  std::string z = skipzoo::test::zlib_compress(rows);
  z[z.size() - 1] ^= 1;  // the Adler-32 checksum
  EXPECT_TRUE(declines(with_idat(z)));
  EXPECT_TRUE(declines(with_idat(skipzoo::test::zlib_compress(rows.substr(0, rows.size() - 5)))));
  EXPECT_TRUE(declines(with_idat(skipzoo::test::zlib_compress(rows + "extra"))));
  std::string bad_filter = rows;
  bad_filter[0] = 5;
  EXPECT_TRUE(declines(with_idat(skipzoo::test::zlib_compress(bad_filter))));
  // Interlaced (Adam7) files are libpng's too.
  std::string interlaced = good;
  interlaced.replace(8, 25, skipzoo::test::png_ihdr(16, 16, 8, 2, 1));
  EXPECT_TRUE(declines(interlaced));
  // IDATs split by another chunk.
  PngLayout split;
  split.idat_chunk = 50;
  std::string gap = encode_png(pixels, split);
  const size_t second = gap.find("IDAT", gap.find("IDAT") + 4) - 4;
  gap.insert(second, png_chunk("tEXt", std::string("a\0b", 3)));
  EXPECT_TRUE(declines(gap));
}

// A 12 KB file whose header claims 32768 x 32768: refused from the header, before the decoder
// allocates the 1 GB it would need (issue 15, item 16).
TEST(DataPng, AHugeClaimedSizeIsRefusedBeforeAnythingIsAllocated) {
  const std::string file = std::string("\x89PNG\r\n\x1a\n", 8) + skipzoo::test::png_ihdr(32768, 32768, 8, 0) +
                           png_chunk("IDAT", skipzoo::test::zlib_compress(std::string(12000, '\0'))) +
                           png_chunk("IEND", "");
  const std::vector<uint8_t> bytes(file.begin(), file.end());
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  const auto msg = skipzoo::test::error_of<data::DataError>([&] { data::decode_image(bytes, "huge.png"); });
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  EXPECT_NE(msg.find("huge.png: the header declares 32768x32768 pixels, more than the limit of 268435456"),
            std::string::npos)
      << msg;
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 100 * 1024) << "KiB more at the peak";
  // The limit is an option: a lower one refuses a real 64 x 64 image by its header.
  const auto small = encode_png(cv::Mat(64, 64, CV_8UC1, cv::Scalar(7)));
  data::ImageReadOptions options;
  options.max_pixels = 64 * 63;
  EXPECT_NE(skipzoo::test::error_of<data::DataError>([&] {
              data::decode_image(std::vector<uint8_t>(small.begin(), small.end()), "s.png", options);
            }).find("declares 64x64 pixels, more than the limit of 4032"),
            std::string::npos);
  options.max_pixels = 64 * 64;
  EXPECT_EQ(data::decode_image(std::vector<uint8_t>(small.begin(), small.end()), "s.png", options).rows, 64);
}

// One damaged byte in the pixel data: skipzoo names the file and the reason, and nothing else
// reaches stderr (libpng would print its own "libpng error" lines first; issue 15, item 13).
TEST(DataPng, ADamagedChunkIsNamedAndLibpngStaysQuiet) {
  auto file = encode_png(cv::Mat(16, 16, CV_8UC3, cv::Scalar(1, 2, 3)));
  const auto idat = file.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  file[idat + 6] = static_cast<char>(file[idat + 6] ^ 0x5A);
  testing::internal::CaptureStderr();
  const auto msg = skipzoo::test::error_of<data::DataError>(
      [&] { data::decode_image(std::vector<uint8_t>(file.begin(), file.end()), "damaged.png"); });
  const auto err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(msg, "damaged.png: corrupt PNG: chunk IDAT fails its CRC check (the file was damaged)");
  EXPECT_EQ(err, "");
}
