#pragma once
// Shared by the fuzz targets: fixing PNG chunk CRCs, so that mutated files get past the CRC
// check into the decoders (as libpng's own fuzzers skip CRCs), and a failure that shows the
// reason before libFuzzer saves the input.
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "format_check.h"

namespace skipzoo::fuzz {

namespace data = skipzoo::data;

// Rewrites the CRC of every complete chunk of a PNG (anything else is left as it is).
inline void fix_png_crcs(std::vector<uint8_t>& bytes) {
  static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.size() < 8 || std::memcmp(bytes.data(), signature, 8) != 0) return;
  size_t at = 8;
  while (at + 12 <= bytes.size()) {
    const uint64_t length = data::be32(&bytes[at]);
    if (length > bytes.size() - at - 12) return;
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0, &bytes[at + 4], static_cast<uInt>(length + 4)));
    uint8_t* out = &bytes[at + 8 + length];
    out[0] = static_cast<uint8_t>(crc >> 24);
    out[1] = static_cast<uint8_t>(crc >> 16);
    out[2] = static_cast<uint8_t>(crc >> 8);
    out[3] = static_cast<uint8_t>(crc);
    at += 12 + length;
  }
}

// The input's bytes; with an odd first byte the PNG CRCs are repaired first (the first byte is
// then dropped), so both the CRC check and what lies behind it are explored.
inline std::vector<uint8_t> input_bytes(const uint8_t* data, size_t size) {
  if (size == 0) return {};
  std::vector<uint8_t> bytes(data + 1, data + size);
  if (data[0] & 1) fix_png_crcs(bytes);
  return bytes;
}

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "fuzz finding: %s\n", what);
  std::abort();
}

}  // namespace skipzoo::fuzz
