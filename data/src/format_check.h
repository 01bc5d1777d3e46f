#pragma once
// Format sniffing and cheap structural checks done before decoding (internal).
#include <cstdint>
#include <string>
#include <vector>

namespace skipzoo::data {

// A big-endian 32-bit value (PNG lengths, sizes and CRCs).
inline uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

enum class ImageFormat { Unknown, Png, Jpeg, Tiff, Bmp };

ImageFormat sniff_format(const std::vector<uint8_t>& bytes);
const char* format_name(ImageFormat format);
// Empty if the container looks whole; otherwise why not (truncated, zero-sized, ...).
std::string check_structure(ImageFormat format, const std::vector<uint8_t>& bytes);

// Width and height as the header declares them (PNG IHDR, JPEG start-of-frame, BMP info or
// core header, TIFF's first IFD), read before anything is allocated; 0 where it does not say.
struct HeaderSize {
  int64_t width = 0, height = 0;
  // Whether width x height is more than `max_pixels`, without overflowing: PNG sizes reach
  // 2^32 - 1, whose square wraps int64 to a negative number that would pass a plain product
  // check (found by fuzz_image_read). Sizes below 1 are the decoder's to refuse.
  bool exceeds(int64_t max_pixels) const { return width > 0 && height > 0 && width > max_pixels / height; }
};
HeaderSize header_size(ImageFormat format, const std::vector<uint8_t>& bytes);

}  // namespace skipzoo::data
