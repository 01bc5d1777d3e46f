// MNIST-format IDX files (gzip or plain, read through zlib) and their import as an ImageFolder.
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "skipzoo/data/error.h"
#include "skipzoo/data/image.h"
#include "skipzoo/data/tools.h"

namespace fs = std::filesystem;

namespace skipzoo::data {

namespace {
// Whole decompressed content; gzread passes non-gzip files through unchanged.
std::vector<uint8_t> read_gzip(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw data_error(path, "file not found");
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw data_error(path, "cannot open the file");
  std::vector<uint8_t> out;
  uint8_t buffer[1 << 16];
  int n;
  while ((n = gzread(file, buffer, sizeof buffer)) > 0) out.insert(out.end(), buffer, buffer + n);
  int code = Z_OK;
  const std::string error = n < 0 ? gzerror(file, &code) : "";
  gzclose(file);
  if (n < 0) throw data_error(path, "corrupt or truncated gzip data (" + error + ")");
  return out;
}

uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }

// Checks the IDX header (unsigned bytes, `dims` dimensions) and returns the dimensions.
std::vector<int64_t> idx_header(const std::vector<uint8_t>& b, int dims, const std::string& path) {
  if (b.size() < 4 + 4u * dims) throw data_error(path, "too short for an IDX header");
  if (b[0] != 0 || b[1] != 0 || b[2] != 0x08)
    throw data_error(path, "not an IDX file of unsigned bytes (bad magic number)");
  if (b[3] != dims)
    throw data_error(path, "IDX file has " + std::to_string(b[3]) + " dimensions, expected " + std::to_string(dims));
  std::vector<int64_t> d;
  int64_t total = 1;
  for (int i = 0; i < dims; ++i) {
    d.push_back(be32(&b[4 + 4 * i]));
    total *= d.back();
  }
  const auto expected = static_cast<int64_t>(4 + 4 * dims) + total;
  if (static_cast<int64_t>(b.size()) < expected)
    throw data_error(path, "truncated IDX data: " + std::to_string(b.size()) + " bytes, the header needs " + std::to_string(expected));
  return d;
}
}  // namespace

IdxImages read_idx_images(const std::string& path) {
  const auto bytes = read_gzip(path);
  const auto d = idx_header(bytes, 3, path);
  IdxImages out{d[0], d[1], d[2], {}};
  if (out.rows < 1 || out.cols < 1) throw data_error(path, "IDX images of zero size");
  out.pixels.assign(bytes.begin() + 16, bytes.begin() + 16 + out.count * out.rows * out.cols);
  return out;
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  const auto bytes = read_gzip(path);
  const auto d = idx_header(bytes, 1, path);
  return {bytes.begin() + 8, bytes.begin() + 8 + d[0]};
}

std::vector<std::string> fashion_mnist_class_names() {
  return {"T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"};
}

void import_idx(const ImportIdxOptions& o) {
  if (o.out.empty()) throw std::invalid_argument("an output folder is needed");
  const auto images = read_idx_images(o.images);
  const auto labels = read_idx_labels(o.labels);
  if (static_cast<int64_t>(labels.size()) != images.count)
    throw data_error(o.labels, std::to_string(labels.size()) + " labels for " + std::to_string(images.count) +
                                   " images in " + o.images);
  auto names = o.class_names;
  if (names.empty()) {
    std::string lower = fs::path(o.images).string();
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower.find("fashion") != std::string::npos) {
      names = fashion_mnist_class_names();
    } else {
      const int top = labels.empty() ? 0 : *std::max_element(labels.begin(), labels.end());
      for (int i = 0; i <= top; ++i) names.push_back(std::to_string(i));
    }
  }
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= names.size())
      throw data_error(o.labels, "label " + std::to_string(labels[i]) + " of item " + std::to_string(i) + " has no class name (" +
                                     std::to_string(names.size()) + " names given)");
  for (const auto& name : names)
    if (name.empty() || name.find('/') != std::string::npos || name[0] == '.')
      throw std::invalid_argument("class name '" + name + "' cannot be a folder name");
  const int64_t n = o.limit > 0 ? std::min(o.limit, images.count) : images.count;
  const int64_t plane = images.rows * images.cols;
  std::vector<bool> made(names.size(), false);  // only classes with images get a folder
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t label = labels[static_cast<size_t>(i)];
    if (!made[label]) {
      std::error_code ec;
      fs::create_directories(fs::path(o.out) / names[label], ec);
      if (ec) throw data_error((fs::path(o.out) / names[label]).string(), "cannot create the folder: " + ec.message());
      made[label] = true;
    }
    const cv::Mat view(static_cast<int>(images.rows), static_cast<int>(images.cols), CV_8U,
                       const_cast<uint8_t*>(images.pixels.data() + i * plane));
    char file[32];
    std::snprintf(file, sizeof file, "%05lld.png", static_cast<long long>(i));
    write_image((fs::path(o.out) / names[label] / file).string(), view);
    if (o.progress && ((i + 1) % 1000 == 0 || i + 1 == n)) o.progress(i + 1, n);
  }
}

}  // namespace skipzoo::data
