// PNG decoding on libdeflate. Inflating is most of a PNG's decode time, and libdeflate's
// whole-buffer inflate is about twice as fast as zlib's streaming one (docs/data.md), which
// the loader feels directly when it decodes an image and a mask for every patch.
#include "png_decode.h"

#include <libdeflate.h>
#include <opencv2/imgproc.hpp>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "format_check.h"

namespace skipzoo::data {

namespace {
struct DecompressorDeleter {
  void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
};

libdeflate_decompressor* thread_decompressor() {
  thread_local std::unique_ptr<libdeflate_decompressor, DecompressorDeleter> d(libdeflate_alloc_decompressor());
  return d.get();
}

// Per-thread scratch buffers keep their memory between images, but not past 16 MiB (a 2048² RGB
// image): with many loader threads and large scans, keeping more would add up.
struct ReleaseIfHuge {
  std::vector<uint8_t>& buffer;
  explicit ReleaseIfHuge(std::vector<uint8_t>& b) : buffer(b) {}
  ~ReleaseIfHuge() {
    if (buffer.capacity() > (size_t(16) << 20)) std::vector<uint8_t>().swap(buffer);
  }
};

inline uint8_t paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return static_cast<uint8_t>(pa <= pb && pa <= pc ? a : (pb <= pc ? b : c));
}

// Undoes one row's filter in place; `prev` is the previous (already unfiltered) row or zeros.
// BPP is a template argument so the left neighbour stays in registers.
template <int BPP>
bool unfilter_row(int filter, uint8_t* cur, const uint8_t* prev, size_t n) {
  switch (filter) {
    case 0: return true;
    case 1:
      for (size_t i = BPP; i < n; ++i) cur[i] = static_cast<uint8_t>(cur[i] + cur[i - BPP]);
      return true;
    case 2:
      for (size_t i = 0; i < n; ++i) cur[i] = static_cast<uint8_t>(cur[i] + prev[i]);
      return true;
    case 3:
      for (size_t i = 0; i < BPP; ++i) cur[i] = static_cast<uint8_t>(cur[i] + (prev[i] >> 1));
      for (size_t i = BPP; i < n; ++i) cur[i] = static_cast<uint8_t>(cur[i] + ((cur[i - BPP] + prev[i]) >> 1));
      return true;
    case 4:
      for (size_t i = 0; i < BPP; ++i) cur[i] = static_cast<uint8_t>(cur[i] + prev[i]);  // paeth(0, b, 0) = b
      for (size_t i = BPP; i < n; ++i) cur[i] = static_cast<uint8_t>(cur[i] + paeth(cur[i - BPP], prev[i], prev[i - BPP]));
      return true;
    default: return false;  // libpng rejects unknown filter types
  }
}

template <int BPP>
bool unfilter(uint8_t* raw, size_t row_bytes, size_t rows, const uint8_t* zeros) {
  const uint8_t* prev = zeros;
  for (size_t y = 0; y < rows; ++y) {
    uint8_t* row = raw + y * (row_bytes + 1);
    if (!unfilter_row<BPP>(row[0], row + 1, prev, row_bytes)) return false;
    prev = row + 1;
  }
  return true;
}

bool unfilter_all(int bpp, uint8_t* raw, size_t row_bytes, size_t rows, const uint8_t* zeros) {
  switch (bpp) {
    case 1: return unfilter<1>(raw, row_bytes, rows, zeros);
    case 2: return unfilter<2>(raw, row_bytes, rows, zeros);
    case 3: return unfilter<3>(raw, row_bytes, rows, zeros);
    case 4: return unfilter<4>(raw, row_bytes, rows, zeros);
    case 6: return unfilter<6>(raw, row_bytes, rows, zeros);
    case 8: return unfilter<8>(raw, row_bytes, rows, zeros);
    default: return false;
  }
}

// Big-endian samples in file order (RGB[A]) -> native-endian 16-bit BGR[A].
void copy_16bit(const uint8_t* raw, size_t row_bytes, cv::Mat& out) {
  const int ch = out.channels();
  for (int y = 0; y < out.rows; ++y) {
    const uint8_t* src = raw + static_cast<size_t>(y) * (row_bytes + 1) + 1;
    uint16_t* dst = out.ptr<uint16_t>(y);
    for (int x = 0; x < out.cols; ++x, src += 2 * ch, dst += ch) {
      for (int c = 0; c < ch; ++c) {
        const int to = (ch >= 3 && c < 3) ? 2 - c : c;
        dst[to] = static_cast<uint16_t>((src[2 * c] << 8) | src[2 * c + 1]);
      }
    }
  }
}

// Palette indices -> BGR, as libpng's expansion; an index past the palette goes to libpng.
bool expand_palette(const uint8_t* raw, size_t row_bytes, const uint8_t* plte, size_t entries, cv::Mat& out) {
  for (int y = 0; y < out.rows; ++y) {
    const uint8_t* src = raw + static_cast<size_t>(y) * (row_bytes + 1) + 1;
    uint8_t* dst = out.ptr<uint8_t>(y);
    for (int x = 0; x < out.cols; ++x, dst += 3) {
      if (src[x] >= entries) return false;
      const uint8_t* rgb = plte + 3 * src[x];
      dst[0] = rgb[2], dst[1] = rgb[1], dst[2] = rgb[0];
    }
  }
  return true;
}
}  // namespace

bool decode_png_fast(const std::vector<uint8_t>& bytes, cv::Mat& out) {
  thread_local std::vector<uint8_t> idat_scratch, raw_scratch;
  ReleaseIfHuge keep_idat(idat_scratch), keep_raw(raw_scratch);
  const size_t size = bytes.size();
  const uint8_t* b = bytes.data();
  if (size < 8 + 25 || std::memcmp(b + 12, "IHDR", 4) != 0 || be32(b + 8) != 13) return false;

  // Walk the chunks: IHDR, then only chunks that cannot change the pixels before one run of IDATs.
  uint32_t width = 0, height = 0;
  int depth = 0, color = 0;
  const uint8_t* idat = nullptr;
  const uint8_t* plte = nullptr;
  size_t idat_size = 0, idat_chunks = 0, plte_entries = 0;
  bool idat_done = false, end = false;
  idat_scratch.clear();
  for (size_t pos = 8; !end;) {
    if (pos + 12 > size) return false;
    const uint32_t length = be32(b + pos);
    if (length > size - pos - 12) return false;
    const uint8_t* type = b + pos + 4;
    const uint8_t* data = b + pos + 8;
    const bool critical = (type[0] & 0x20) == 0;
    // libpng rejects bad CRCs in critical chunks; anything it would complain about goes to it.
    if (critical && libdeflate_crc32(0, type, length + 4) != be32(data + length)) return false;
    const bool is_idat = std::memcmp(type, "IDAT", 4) == 0;
    if (std::memcmp(type, "IHDR", 4) == 0) {
      if (pos != 8) return false;
      width = be32(data), height = be32(data + 4), depth = data[8], color = data[9];
      if (data[10] != 0 || data[11] != 0 || data[12] != 0) return false;  // unknown method or interlaced
      const bool palette = color == 3 && depth == 8;
      if (!palette && ((depth != 8 && depth != 16) || (color != 0 && color != 2 && color != 6))) return false;
      // OpenCV's limits (CV_IO_MAX_IMAGE_*): larger images get its message.
      if (width == 0 || height == 0 || width > (1u << 20) || height > (1u << 20) ||
          uint64_t(width) * height > (uint64_t(1) << 30))
        return false;
    } else if (is_idat) {
      if (idat_done) return false;  // IDATs must be consecutive
      if (idat_chunks++ == 0) idat = data;
      else {
        if (idat_chunks == 2) idat_scratch.assign(idat, idat + idat_size);
        idat_scratch.insert(idat_scratch.end(), data, data + length);
      }
      idat_size += length;
    } else if (std::memcmp(type, "IEND", 4) == 0) {
      end = true;
    } else if (std::memcmp(type, "PLTE", 4) == 0) {
      if (plte || idat_chunks > 0 || length == 0 || length % 3 != 0 || length > 3 * 256) return false;
      plte = data, plte_entries = length / 3;
    } else if (std::memcmp(type, "tRNS", 4) == 0 || critical) {
      return false;  // transparency becomes an alpha channel in OpenCV; unknown critical chunks are errors
    }
    if (idat_chunks > 0 && !is_idat) idat_done = true;
    pos += 12 + size_t(length);
  }
  if (idat_chunks == 0 || width == 0) return false;
  if ((color == 3 && !plte) || (color == 0 && plte)) return false;  // no palette, or one in a gray image
  if (idat_chunks > 1) idat = idat_scratch.data();

  const int channels = color == 0 || color == 3 ? 1 : (color == 2 ? 3 : 4);  // samples per pixel in the file
  const int bpp = channels * depth / 8;
  const size_t row_bytes = size_t(width) * bpp, rows = height;
  const size_t expected = (row_bytes + 1) * rows;
  raw_scratch.resize(expected + row_bytes);  // the tail is the zero row above the first one
  uint8_t* zeros = raw_scratch.data() + expected;
  std::memset(zeros, 0, row_bytes);
  size_t produced = 0;
  if (libdeflate_zlib_decompress(thread_decompressor(), idat, idat_size, raw_scratch.data(), expected, &produced) !=
          LIBDEFLATE_SUCCESS ||
      produced != expected)
    return false;
  if (!unfilter_all(bpp, raw_scratch.data(), row_bytes, rows, zeros)) return false;

  const int type = CV_MAKETYPE(depth == 8 ? CV_8U : CV_16U, color == 3 ? 3 : channels);
  cv::Mat decoded(static_cast<int>(height), static_cast<int>(width), type);
  if (color == 3) {
    if (!expand_palette(raw_scratch.data(), row_bytes, plte, plte_entries, decoded)) return false;
  } else if (depth == 16) {
    copy_16bit(raw_scratch.data(), row_bytes, decoded);
  } else {
    // The unfiltered rows sit one filter byte apart: a strided view, converted in one pass.
    const cv::Mat view(decoded.rows, decoded.cols, type, raw_scratch.data() + 1, row_bytes + 1);
    if (channels == 1) view.copyTo(decoded);
    else cv::cvtColor(view, decoded, channels == 3 ? cv::COLOR_RGB2BGR : cv::COLOR_RGBA2BGRA);
  }
  out = decoded;
  return true;
}

}  // namespace skipzoo::data
