// libFuzzer target: decode_image(), the reader behind every image and mask skipzoo opens
// (format sniffing, structure and CRC checks, header limits, the PNG fast path, OpenCV's codecs,
// channel conversion). Properties: any bytes give either a DataError or an 8/16-bit image with
// the channels asked for; nothing else escapes.
#include <skipzoo/data/error.h>
#include <skipzoo/data/image.h>

#include "fuzz_util.h"

namespace data = skipzoo::data;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* input, size_t size) {
  if (size < 2) return 0;
  data::ImageReadOptions options;
  const uint8_t mode = input[0];  // the channel policy, from the first byte
  options.channels = mode % 3 == 0 ? data::Channels::AsStored : (mode % 3 == 1 ? data::Channels::Gray : data::Channels::RGB);
  options.keep_alpha = (mode / 3) % 2 == 1;
  options.max_pixels = int64_t{1} << 20;
  const auto bytes = skipzoo::fuzz::input_bytes(input + 1, size - 1);
  cv::Mat image;
  try {
    image = data::decode_image(bytes, "fuzz input", options);
  } catch (const data::DataError&) {
    return 0;  // the documented error for bad data
  }
  if (image.empty() || image.total() > (size_t{1} << 20)) skipzoo::fuzz::fail("an empty or over-limit image");
  if (image.depth() != CV_8U && image.depth() != CV_16U) skipzoo::fuzz::fail("neither 8- nor 16-bit");
  const int c = image.channels();
  if (options.channels == data::Channels::Gray && c != 1) skipzoo::fuzz::fail("Gray gave more than one channel");
  if (options.channels == data::Channels::RGB && c != 3) skipzoo::fuzz::fail("RGB did not give 3 channels");
  if (options.channels == data::Channels::AsStored && c != 1 && c != 3 && !(c == 4 && options.keep_alpha)) {
    skipzoo::fuzz::fail("unexpected channel count");
  }
  return 0;
}
