#pragma once
// PNG decoding on libdeflate for the common data-set PNGs (internal).
#include <opencv2/core.hpp>

#include <cstdint>
#include <vector>

namespace skipzoo::data {

// Decodes non-interlaced 8/16-bit gray, RGB and RGBA PNGs and 8-bit palette PNGs (VOC's masks),
// all without tRNS, into what
// cv::imdecode(IMREAD_UNCHANGED) gives (BGR order, native-endian 16 bits). Returns false,
// leaving `out` alone, for every other PNG and for any file that fails a check (a CRC, the
// zlib stream, the amount of data): the caller then decodes with OpenCV, so unusual and broken
// files get libpng's behaviour and messages.
bool decode_png_fast(const std::vector<uint8_t>& bytes, cv::Mat& out);

}  // namespace skipzoo::data
