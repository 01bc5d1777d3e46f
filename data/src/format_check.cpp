// Structural checks that catch truncation the codecs would hide or report only on stderr.
#include "format_check.h"

#include <zlib.h>

#include <cstring>

namespace skipzoo::data {

namespace {
uint32_t le32(const uint8_t* p) { return (uint32_t(p[3]) << 24) | (uint32_t(p[2]) << 16) | (uint32_t(p[1]) << 8) | p[0]; }

// Walks the chunks: every length must fit, IHDR must have a size, every critical chunk's CRC must
// match, and IEND must be reached. Corrupt data caught here never reaches libpng, which would
// print its own "libpng error" lines on stderr before skipzoo's message.
std::string check_png(const std::vector<uint8_t>& b) {
  size_t pos = 8;
  bool first = true;
  while (pos + 12 <= b.size()) {
    const uint32_t length = be32(&b[pos]);
    const std::string type(reinterpret_cast<const char*>(&b[pos + 4]), 4);
    if (length > b.size() - pos - 12)
      return "truncated PNG: the file ends inside chunk " + type + " (" + std::to_string(b.size()) + " bytes)";
    if (first) {
      if (type != "IHDR" || length < 8) return "corrupt PNG: the first chunk is not a valid IHDR";
      const uint32_t w = be32(&b[pos + 8]), h = be32(&b[pos + 12]);
      if (w == 0 || h == 0)
        return "the PNG header says " + std::to_string(w) + "x" + std::to_string(h) + " pixels (an image needs at least 1x1)";
      first = false;
    }
    const bool critical = type[0] >= 'A' && type[0] <= 'Z';  // ancillary chunks: libpng only warns
    if (critical && crc32(crc32(0L, Z_NULL, 0), &b[pos + 4], 4 + length) != be32(&b[pos + 8 + length])) {
      return "corrupt PNG: chunk " + type + " fails its CRC check (the file was damaged)";
    }
    if (type == "IEND") return "";
    pos += 12 + length;
  }
  return "truncated PNG: the file ends before the IEND chunk (" + std::to_string(b.size()) + " bytes)";
}

// Entropy-coded data byte-stuffs 0xFF, so a real end-of-image marker (FF D9) must follow the
// last start-of-scan (FF DA); trailing bytes after it are tolerated.
std::string check_jpeg(const std::vector<uint8_t>& b) {
  size_t last_sos = std::string::npos, last_eoi = std::string::npos;
  for (size_t i = 0; i + 1 < b.size(); ++i) {
    if (b[i] != 0xFF) continue;
    if (b[i + 1] == 0xDA) last_sos = i;
    else if (b[i + 1] == 0xD9) last_eoi = i;
  }
  if (last_sos == std::string::npos) return "corrupt JPEG: no image data (no start-of-scan marker)";
  if (last_eoi == std::string::npos || last_eoi < last_sos)
    return "truncated JPEG: the file ends before the end-of-image marker (" + std::to_string(b.size()) + " bytes)";
  return "";
}

std::string check_bmp(const std::vector<uint8_t>& b) {
  if (b.size() < 26) return "truncated BMP: the header is incomplete";
  const uint32_t declared = le32(&b[2]);
  if (declared > b.size())
    return "truncated BMP: the header declares " + std::to_string(declared) + " bytes, the file has " + std::to_string(b.size());
  return "";
}
}  // namespace

ImageFormat sniff_format(const std::vector<uint8_t>& b) {
  const auto starts = [&](const char* magic, size_t n) { return b.size() >= n && std::memcmp(b.data(), magic, n) == 0; };
  if (starts("\x89PNG\r\n\x1a\n", 8)) return ImageFormat::Png;
  if (starts("\xFF\xD8\xFF", 3)) return ImageFormat::Jpeg;
  if (starts("II*\0", 4) || starts("MM\0*", 4)) return ImageFormat::Tiff;
  if (starts("BM", 2)) return ImageFormat::Bmp;
  return ImageFormat::Unknown;
}

namespace {
// The first IFD's ImageWidth (tag 256) and ImageLength (257), SHORT or LONG, in the file's byte
// order; 0 for what is missing.
HeaderSize tiff_size(const std::vector<uint8_t>& b) {
  if (b.size() < 8) return {};
  const bool little = b[0] == 'I';
  const auto u16 = [&](size_t at) { return little ? uint32_t(b[at]) | uint32_t(b[at + 1]) << 8 : uint32_t(b[at]) << 8 | b[at + 1]; };
  const auto u32 = [&](size_t at) { return little ? le32(&b[at]) : be32(&b[at]); };
  const uint64_t ifd = u32(4);
  if (ifd + 2 > b.size()) return {};
  HeaderSize size;
  const uint32_t entries = u16(ifd);
  for (uint64_t e = ifd + 2; e + 12 <= b.size() && e < ifd + 2 + 12 * uint64_t(entries); e += 12) {
    const uint32_t tag = u16(e), type = u16(e + 2);
    if ((tag != 256 && tag != 257) || (type != 3 && type != 4)) continue;
    (tag == 256 ? size.width : size.height) = type == 3 ? u16(e + 8) : u32(e + 8);
  }
  return size;
}

// The first start-of-frame's size. Walks the segments as libjpeg does: bytes between segments
// are skipped up to the next 0xFF, fill bytes (FF FF) and standalone markers (TEM, RSTn, SOI)
// have no length.
HeaderSize jpeg_size(const std::vector<uint8_t>& b) {
  for (size_t i = 2; i + 3 < b.size();) {
    if (b[i] != 0xFF || b[i + 1] == 0xFF) {
      ++i;
      continue;
    }
    const uint8_t marker = b[i + 1];
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {
      i += 2;
      continue;
    }
    const size_t length = (size_t(b[i + 2]) << 8) | b[i + 3];
    if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      if (i + 8 >= b.size()) return {};
      return {(int64_t(b[i + 7]) << 8) | b[i + 8], (int64_t(b[i + 5]) << 8) | b[i + 6]};
    }
    if (marker == 0xDA || marker == 0xD9 || length < 2) return {};
    i += 2 + length;
  }
  return {};
}
}  // namespace

HeaderSize header_size(ImageFormat format, const std::vector<uint8_t>& b) {
  if (format == ImageFormat::Png && b.size() >= 24) return {be32(&b[16]), be32(&b[20])};
  if (format == ImageFormat::Bmp && b.size() >= 26) {
    if (le32(&b[14]) == 12) return {b[18] | int64_t(b[19]) << 8, b[20] | int64_t(b[21]) << 8};  // OS/2 core header
    const auto h = static_cast<int32_t>(le32(&b[22]));  // negative: stored top-down
    return {static_cast<int32_t>(le32(&b[18])), h < 0 ? -int64_t{h} : h};
  }
  if (format == ImageFormat::Jpeg) return jpeg_size(b);
  if (format == ImageFormat::Tiff) return tiff_size(b);
  return {};
}

const char* format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::Png: return "PNG";
    case ImageFormat::Jpeg: return "JPEG";
    case ImageFormat::Tiff: return "TIFF";
    case ImageFormat::Bmp: return "BMP";
    case ImageFormat::Unknown: break;
  }
  return "unknown";
}

std::string check_structure(ImageFormat format, const std::vector<uint8_t>& bytes) {
  switch (format) {
    case ImageFormat::Png: return check_png(bytes);
    case ImageFormat::Jpeg: return check_jpeg(bytes);
    case ImageFormat::Bmp: return check_bmp(bytes);
    default: return "";  // TIFF: the decoder itself reports truncation
  }
}

}  // namespace skipzoo::data
