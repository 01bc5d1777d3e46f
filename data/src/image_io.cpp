// Reading and writing image files with clear errors for every way a file can be bad.
#include "skipzoo/data/image.h"

#include <skipzoo/models/weights.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "format_check.h"
#include "image_internal.h"
#include "png_decode.h"
#include "skipzoo/data/error.h"

namespace skipzoo::data {

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw data_error(path, "cannot open the file (missing or no permission)");
  const auto size = static_cast<std::streamoff>(in.tellg());
  if (size < 0) throw data_error(path, "cannot read the file (is it a directory?)");
  if (size == 0) throw data_error(path, "the file is empty (0 bytes)");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size)) throw data_error(path, "cannot read the file");
  return bytes;
}

bool has_image_extension(const std::string& path) {
  const auto dot = path.find_last_of('.');
  if (dot == std::string::npos || path.find('/', dot) != std::string::npos) return false;
  std::string ext = path.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* known : {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})
    if (ext == known) return true;
  return false;
}

cv::Mat convert_channels(const cv::Mat& image, int channels) {
  const int have = image.channels();
  if (have == channels) return image;
  cv::Mat out;
  if (channels == 1) {
    cv::cvtColor(image, out, have == 4 ? cv::COLOR_RGBA2GRAY : cv::COLOR_RGB2GRAY);
  } else if (channels == 3) {
    cv::cvtColor(image, out, have == 1 ? cv::COLOR_GRAY2RGB : cv::COLOR_RGBA2RGB);
  } else if (channels == 4) {
    cv::cvtColor(image, out, have == 1 ? cv::COLOR_GRAY2RGBA : cv::COLOR_RGB2RGBA);
  } else {
    throw std::invalid_argument("convert_channels: cannot make " + std::to_string(channels) + " channels");
  }
  return out;
}

namespace {
// SKIPZOO_PNG_DECODER=libpng sends every PNG through OpenCV: for comparisons, and as a way out.
bool png_fast_path() {
  static const bool enabled = [] {
    const char* choice = std::getenv("SKIPZOO_PNG_DECODER");
    return !(choice && std::string(choice) == "libpng");
  }();
  return enabled;
}
}  // namespace

int64_t default_max_image_pixels() {
  static const int64_t limit = [] {
    const char* text = std::getenv("SKIPZOO_MAX_IMAGE_PIXELS");
    if (text == nullptr || *text == '\0') return int64_t{1} << 28;
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1) {
      throw DataError(std::string("SKIPZOO_MAX_IMAGE_PIXELS='") + text + "': expected a positive number of pixels");
    }
    return static_cast<int64_t>(v);
  }();
  return limit;
}

cv::Mat decode_bgr(const std::vector<uint8_t>& bytes, const std::string& name, int64_t max_pixels) {
  if (bytes.empty()) throw data_error(name, "the file is empty (0 bytes)");
  const ImageFormat format = sniff_format(bytes);
  if (format == ImageFormat::Unknown)
    throw data_error(name, "not an image: the content is not PNG, JPEG, TIFF or BMP");
  // Catch truncation before the codec: libjpeg fills missing data with grey and succeeds.
  const std::string structure = check_structure(format, bytes);
  if (!structure.empty()) throw data_error(name, structure);
  const auto over_limit = [&](const std::string& what, int64_t width, int64_t height) {
    return data_error(name, what + std::to_string(width) + "x" + std::to_string(height) + " pixels, more than the limit of " +
                                std::to_string(max_pixels) + " (raise it with SKIPZOO_MAX_IMAGE_PIXELS)");
  };
  // A small file can claim a huge image: check the claim before the decoder allocates for it.
  const auto size = header_size(format, bytes);
  if (size.exceeds(max_pixels)) throw over_limit("the header declares ", size.width, size.height);

  cv::Mat raw;
  if (format == ImageFormat::Png && png_fast_path() && decode_png_fast(bytes, raw)) return raw;  // always a valid 8/16-bit image
  try {
    // Wrap without copying; IMREAD_UNCHANGED keeps 16 bits and alpha and skips EXIF rotation.
    const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8U, const_cast<uint8_t*>(bytes.data()));
    raw = cv::imdecode(buffer, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    throw data_error(name, std::string("cannot decode the ") + format_name(format) + " data: " + e.what());
  }
  if (raw.empty()) throw data_error(name, std::string("cannot decode the ") + format_name(format) + " data (corrupt or unsupported)");
  if (raw.rows < 1 || raw.cols < 1) throw data_error(name, "the image has no pixels");
  // A header the checks above could not read (an unusual TIFF or JPEG layout) is caught here,
  // after decoding: the limit holds for every image returned.
  if (HeaderSize{raw.cols, raw.rows}.exceeds(max_pixels)) throw over_limit("the image has ", raw.cols, raw.rows);
  if (raw.depth() != CV_8U && raw.depth() != CV_16U)
    throw data_error(name, "unsupported pixel type (only 8- and 16-bit integer images are read)");
  if (raw.channels() != 1 && raw.channels() != 3 && raw.channels() != 4)
    throw data_error(name, "unsupported channel count " + std::to_string(raw.channels()));
  return raw;
}

cv::Mat conform_bgr(const cv::Mat& bgr, int channels) {
  if (channels == 1 && bgr.channels() >= 3) {
    cv::Mat gray;
    cv::cvtColor(bgr, gray, bgr.channels() == 4 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGR2GRAY);
    return gray;
  }
  return convert_channels(bgr, channels);  // the other conversions do not depend on the order
}

void bgr_to_rgb(cv::Mat& image) {
  if (image.channels() >= 3) cv::cvtColor(image, image, image.channels() == 3 ? cv::COLOR_BGR2RGB : cv::COLOR_BGRA2RGBA);
}

cv::Mat decode_image(const std::vector<uint8_t>& bytes, const std::string& name, const ImageReadOptions& options) {
  cv::Mat rgb = decode_bgr(bytes, name, options.max_pixels);
  bgr_to_rgb(rgb);
  switch (options.channels) {
    case Channels::Gray: return convert_channels(rgb, 1);
    case Channels::RGB: return convert_channels(rgb, 3);
    case Channels::AsStored: break;
  }
  if (rgb.channels() == 4 && !options.keep_alpha) return convert_channels(rgb, 3);
  return rgb;
}

cv::Mat read_image(const std::string& path, const ImageReadOptions& options) {
  return decode_image(read_file(path), path, options);
}

void write_image(const std::string& path, const cv::Mat& image) {
  if (image.empty()) throw data_error(path, "cannot write an empty image");
  cv::Mat bgr;
  switch (image.channels()) {
    case 1: bgr = image; break;
    case 3: cv::cvtColor(image, bgr, cv::COLOR_RGB2BGR); break;
    case 4: cv::cvtColor(image, bgr, cv::COLOR_RGBA2BGRA); break;
    default: throw data_error(path, "cannot write an image with " + std::to_string(image.channels()) + " channels");
  }
  // Encoded in memory, then written atomically with every result checked, so a full disk is
  // reported as such and never leaves half an image.
  std::vector<uchar> bytes;
  bool ok = false;
  try {
    ok = cv::imencode(std::filesystem::path(path).extension().string(), bgr, bytes);
  } catch (const cv::Exception& e) {
    throw data_error(path, std::string("cannot encode the image: ") + e.what());
  }
  if (!ok) throw data_error(path, "cannot encode the image (unknown extension '" +
                                      std::filesystem::path(path).extension().string() + "')");
  try {
    models::write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
  } catch (const std::runtime_error& e) {
    throw DataError(e.what());
  }
}

}  // namespace skipzoo::data
