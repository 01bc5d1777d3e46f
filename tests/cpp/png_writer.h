#pragma once
// A small PNG writer for the tests, independent of skipzoo and libpng: every filter type, any
// IDAT split and extra chunks, so decoders can be checked on files OpenCV's writer never makes.
#include <opencv2/core.hpp>
#include <zlib.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace skipzoo::test {

inline std::string be32_bytes(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

// A chunk: length, type, data, CRC of type and data.
inline std::string png_chunk(const std::string& type, const std::string& data) {
  const std::string body = type + data;
  const auto crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())));
  return be32_bytes(static_cast<uint32_t>(data.size())) + body + be32_bytes(crc);
}

inline std::string png_ihdr(uint32_t w, uint32_t h, int depth, int color, int interlace = 0) {
  return png_chunk("IHDR", be32_bytes(w) + be32_bytes(h) + std::string{char(depth), char(color), 0, 0, char(interlace)});
}

struct PngLayout {
  int idat_chunk = 1 << 20;    // bytes of zlib data per IDAT chunk
  std::string before_idat;     // extra chunks (already encoded) between IHDR and the IDATs
  int filter = -1;             // filter type of every row; -1 cycles 0..4 row by row
  int color = -1;              // PNG colour type; -1 derives it from the channel count
};

// `pixels` in file order (gray, RGB, RGBA; 8 or 16 bits) -> filtered, deflated rows of the IDATs.
inline std::string png_filtered_rows(const cv::Mat& pixels, int filter) {
  const int bpp = static_cast<int>(pixels.elemSize());
  const size_t n = static_cast<size_t>(pixels.cols) * bpp;
  std::vector<uint8_t> prev(n, 0), cur(n);
  std::string rows;
  for (int y = 0; y < pixels.rows; ++y) {
    for (size_t i = 0; i < n; ++i) {  // big-endian samples
      const size_t sample = pixels.depth() == CV_16U ? i / 2 : i;
      const uint8_t* p = pixels.ptr<uint8_t>(y);
      cur[i] = pixels.depth() == CV_16U ? static_cast<uint8_t>(reinterpret_cast<const uint16_t*>(p)[sample] >> (i % 2 ? 0 : 8)) : p[i];
    }
    const int f = filter >= 0 ? filter : y % 5;
    rows += char(f);
    for (size_t i = 0; i < n; ++i) {
      const int a = i >= size_t(bpp) ? cur[i - bpp] : 0, b = prev[i], c = i >= size_t(bpp) ? prev[i - bpp] : 0;
      const int pa = std::abs(b - c), pb = std::abs(a - c), pc = std::abs(a + b - 2 * c);
      const int predictor[] = {0, a, b, (a + b) / 2, pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)};
      rows += char(cur[i] - predictor[f]);
    }
    prev = cur;
  }
  return rows;
}

inline std::string zlib_compress(const std::string& data) {
  uLongf size = compressBound(static_cast<uLong>(data.size()));
  std::string out(size, '\0');
  compress2(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(data.data()),
            static_cast<uLong>(data.size()), 6);
  out.resize(size);
  return out;
}

inline std::string encode_png(const cv::Mat& pixels, const PngLayout& layout = {}) {
  const int ch = pixels.channels();
  const int color = layout.color >= 0 ? layout.color : (ch == 1 ? 0 : ch == 3 ? 2 : 6);
  const int depth = pixels.depth() == CV_16U ? 16 : 8;
  std::string png = std::string("\x89PNG\r\n\x1a\n", 8) +
                    png_ihdr(static_cast<uint32_t>(pixels.cols), static_cast<uint32_t>(pixels.rows), depth, color) +
                    layout.before_idat;
  const std::string z = zlib_compress(png_filtered_rows(pixels, layout.filter));
  for (size_t pos = 0; pos < z.size(); pos += static_cast<size_t>(layout.idat_chunk))
    png += png_chunk("IDAT", z.substr(pos, static_cast<size_t>(layout.idat_chunk)));
  return png + png_chunk("IEND", "");
}

}  // namespace skipzoo::test
