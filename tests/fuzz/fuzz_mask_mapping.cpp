// libFuzzer target: mask mapping, from the --mask-values text to the label map a mask becomes.
// The input is "SPEC\n" followed by a small raw mask: a type byte (8-bit gray, 16-bit gray,
// RGB, RGBA), a width byte, then the pixels. Properties, each from the mapping's contract in
// skipzoo/data/mask.h:
// - parse() accepts a spec or throws std::invalid_argument; to_json()/from_json() round-trip it;
// - check_counts() is "" exactly when map() succeeds (else map() throws DataError);
// - map() gives a CV_8U map of the mask's size with labels < K or kIgnoreIndex;
// - unmap() gives back the raw value (or colour) of every pixel not ignored, and map() of that
//   gives the same labels;
// - the mapping from_scan() makes from the mask's own keys maps it without error.
#include <skipzoo/data/error.h>
#include <skipzoo/data/mask.h>

#include <algorithm>
#include <string>

#include "fuzz_util.h"

namespace data = skipzoo::data;
using skipzoo::fuzz::fail;

namespace {

cv::Mat raw_mask(const uint8_t* p, size_t n) {
  if (n < 2) return {};
  static const int types[] = {CV_8UC1, CV_16UC1, CV_8UC3, CV_8UC4};
  const int type = types[p[0] % 4];
  const int width = 1 + p[1] % 16;
  p += 2;
  n -= 2;
  const size_t row_bytes = static_cast<size_t>(width) * CV_ELEM_SIZE(type);
  const int height = static_cast<int>(std::min<size_t>(n / row_bytes, 16));
  if (height == 0) return {};
  cv::Mat m(height, width, type);
  for (int y = 0; y < height; ++y) std::copy(p + y * row_bytes, p + (y + 1) * row_bytes, m.ptr<uint8_t>(y));
  return m;
}

// A pixel's key as the mapping sees it: the gray value, or 0xRRGGBB (a gray pixel under a
// colour table is (g, g, g)).
uint32_t key_at(const cv::Mat& m, int y, int x, bool colour_table) {
  if (m.channels() == 1) {
    const uint32_t g = m.depth() == CV_16U ? m.at<uint16_t>(y, x) : m.at<uint8_t>(y, x);
    return colour_table ? g * 0x010101u : g;
  }
  const uint8_t* p = m.ptr<uint8_t>(y) + x * m.channels();
  if (!colour_table) return p[0];  // equal channels: a gray mask saved as colour
  return uint32_t{p[0]} << 16 | uint32_t{p[1]} << 8 | p[2];
}

void check_labels(const cv::Mat& labels, const cv::Mat& raw, const data::MaskMapping& mapping) {
  if (labels.type() != CV_8UC1 || labels.size() != raw.size()) fail("map() gave the wrong type or size");
  for (int y = 0; y < labels.rows; ++y) {
    for (int x = 0; x < labels.cols; ++x) {
      const int label = labels.at<uint8_t>(y, x);
      if (label == data::kIgnoreIndex && !mapping.has_ignore()) fail("an ignored pixel under a mapping without ignore");
      if (label != data::kIgnoreIndex && label >= mapping.num_classes()) fail("a label that is no class");
    }
  }
}

void exercise(const data::MaskMapping& mapping, const cv::Mat& raw) {
  bool colour = false;
  std::map<uint32_t, int64_t> counts;
  try {
    counts = data::mask_key_counts(raw, &colour);
  } catch (const std::invalid_argument&) {
    return;  // a colour mask that is not 8-bit: documented
  }
  const std::string why = mapping.check_counts(counts, colour);
  cv::Mat labels;
  try {
    labels = mapping.map(raw, "fuzz mask");
  } catch (const data::DataError&) {
    if (why.empty()) fail("check_counts() accepted a mask that map() refused");
    return;
  }
  if (!why.empty()) fail("map() accepted a mask that check_counts() refused");
  check_labels(labels, raw, mapping);
  cv::Mat back;
  try {
    back = mapping.unmap(labels);
  } catch (const std::invalid_argument&) {
    fail("unmap() refused labels that map() made");
  }
  const bool colours = mapping.kind() == data::MaskMapping::Kind::Colors;
  for (int y = 0; y < labels.rows; ++y) {
    for (int x = 0; x < labels.cols; ++x) {
      if (labels.at<uint8_t>(y, x) != data::kIgnoreIndex && key_at(back, y, x, colours) != key_at(raw, y, x, colours)) {
        fail("unmap(map(mask)) is not the mask on a pixel that is not ignored");
      }
    }
  }
  const cv::Mat again = mapping.map(back, "unmapped fuzz mask");
  if (cv::norm(again, labels, cv::NORM_INF) != 0) fail("map(unmap(labels)) != labels");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* input, size_t size) {
  const auto* end = input + size;
  const auto* newline = std::find(input, end, uint8_t{'\n'});
  if (newline == end) return 0;
  const std::string spec(input, newline);
  const cv::Mat raw = raw_mask(newline + 1, static_cast<size_t>(end - newline - 1));

  try {
    const auto mapping = data::MaskMapping::parse(spec);
    if (!(data::MaskMapping::from_json(mapping.to_json()) == mapping)) fail("to_json/from_json changed the mapping");
    if (!raw.empty()) exercise(mapping, raw);
  } catch (const std::invalid_argument&) {
    // a malformed spec: the documented error
  }

  if (raw.empty()) return 0;
  bool colour = false;
  std::map<uint32_t, int64_t> counts;
  try {
    counts = data::mask_key_counts(raw, &colour);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  try {
    const auto scanned = data::MaskMapping::from_scan(counts, colour, 254, 255, "fuzz scan");
    const std::string why = scanned.check_counts(counts, colour);
    if (!why.empty()) fail("the mapping scanned from a mask does not fit that mask");
    exercise(scanned, raw);
  } catch (const data::DataError&) {
    // too many distinct keys for classes: documented
  }
  return 0;
}
