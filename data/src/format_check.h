#pragma once
// Format sniffing and cheap structural checks done before decoding (internal).
#include <cstdint>
#include <string>
#include <vector>

namespace skipzoo::data {

enum class ImageFormat { Unknown, Png, Jpeg, Tiff, Bmp };

ImageFormat sniff_format(const std::vector<uint8_t>& bytes);
const char* format_name(ImageFormat format);
// Empty if the container looks whole; otherwise why not (truncated, zero-sized, ...).
std::string check_structure(ImageFormat format, const std::vector<uint8_t>& bytes);

}  // namespace skipzoo::data
