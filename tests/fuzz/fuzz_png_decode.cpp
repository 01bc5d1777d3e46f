// libFuzzer target: skipzoo's own PNG decoder (data/src/png_decode.cpp) against libpng.
// Properties: it never crashes, hangs or reads out of bounds on any bytes; when it accepts a
// file, the pixels are exactly those libpng (cv::imdecode, IMREAD_UNCHANGED) gives.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <zlib.h>

#include <algorithm>

#include "format_check.h"
#include "fuzz_util.h"
#include "png_decode.h"

namespace data = skipzoo::data;

namespace {

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

void put_chunk(std::vector<uint8_t>& out, const char* kind, const std::vector<uint8_t>& payload) {
  put_be32(out, static_cast<uint32_t>(payload.size()));
  const size_t start = out.size();
  out.insert(out.end(), kind, kind + 4);
  out.insert(out.end(), payload.begin(), payload.end());
  put_be32(out, static_cast<uint32_t>(crc32(0, &out[start], static_cast<uInt>(out.size() - start))));
}

// Mutated zlib data rarely inflates, so on their own the fuzzer's inputs seldom reach the
// unfiltering and pixel conversion. With the input's first byte's bit 1 set, the rest is a
// recipe instead: width, height, a type choice, an IDAT split and palette size, then the raw
// (filter byte + pixels) scanlines, which are compressed into a valid PNG here.
std::vector<uint8_t> png_from_recipe(const uint8_t* p, size_t n) {
  if (n < 5) return {};
  static const uint8_t kinds[][2] = {{8, 0}, {16, 0}, {8, 2}, {16, 2}, {8, 4}, {16, 4}, {8, 6}, {16, 6}, {8, 3},
                                     {1, 0}, {4, 3}, {2, 0}};  // {bit depth, colour type}
  const uint32_t width = 1 + p[0] % 48, height = 1 + p[1] % 48;
  const auto& kind = kinds[p[2] % (sizeof(kinds) / sizeof(kinds[0]))];
  const size_t idat_split = 1 + p[3] * 8;
  const size_t palette = 1 + p[4] % 256;
  std::vector<uint8_t> ihdr;
  put_be32(ihdr, width);
  put_be32(ihdr, height);
  ihdr.insert(ihdr.end(), {kind[0], kind[1], 0, 0, 0});
  std::vector<uint8_t> raw(p + 5, p + n);
  std::vector<uint8_t> packed(compressBound(static_cast<uLong>(raw.size())));
  uLongf packed_size = static_cast<uLongf>(packed.size());
  if (compress(packed.data(), &packed_size, raw.data(), static_cast<uLong>(raw.size())) != Z_OK) return {};
  packed.resize(packed_size);
  std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  put_chunk(out, "IHDR", ihdr);
  if (kind[1] == 3) {
    std::vector<uint8_t> colours(3 * palette);
    for (size_t i = 0; i < colours.size(); ++i) colours[i] = static_cast<uint8_t>(i * 37);
    put_chunk(out, "PLTE", colours);
  }
  for (size_t at = 0; at < packed.size(); at += idat_split) {
    put_chunk(out, "IDAT", std::vector<uint8_t>(packed.begin() + at, packed.begin() + std::min(packed.size(), at + idat_split)));
  }
  put_chunk(out, "IEND", {});
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* input, size_t size) {
  const auto bytes = size > 0 && (input[0] & 2) ? png_from_recipe(input + 1, size - 1)
                                                : skipzoo::fuzz::input_bytes(input, size);
  // As in decode_image: only files whose header passes the pixel limit reach the decoder
  // (a 1 MiB-pixel limit here keeps every execution fast).
  if (data::sniff_format(bytes) != data::ImageFormat::Png) return 0;
  const auto header = data::header_size(data::ImageFormat::Png, bytes);
  if (header.exceeds(int64_t{1} << 20)) return 0;
  cv::Mat fast;
  if (!data::decode_png_fast(bytes, fast)) return 0;
  if (fast.empty() || (fast.depth() != CV_8U && fast.depth() != CV_16U)) skipzoo::fuzz::fail("accepted, but no 8/16-bit image");
  cv::Mat reference;
  try {
    reference = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception&) {
  }
  // libpng may refuse a file the fast path reads (it checks more ancillary chunks); when it
  // reads the file too, the two must agree to the bit.
  if (reference.empty()) return 0;
  if (reference.size() != fast.size() || reference.type() != fast.type() ||
      cv::norm(reference, fast, cv::NORM_INF) != 0) {
    skipzoo::fuzz::fail("the fast PNG decoder and libpng give different pixels");
  }
  return 0;
}
