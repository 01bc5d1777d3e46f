// deploy_opencv: runs a skipzoo segmentation model exported to ONNX with OpenCV alone (no
// LibTorch, no skipzoo) and writes the mask that `skipzoo predict --model MODEL.onnx` writes.
// Each step repeats skipzoo's float32 operations in skipzoo's order, so the argmax agrees pixel
// for pixel: image reading (data/src/image_io.cpp), normalisation (data/src/image_tensor.cpp),
// the sliding window (data/src/tiler.cpp with predict's options) and the mask (mask_io.cpp).
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Error = std::runtime_error;  // exit status 1; messages name the file and the reason

std::vector<uchar> read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error("cannot open " + what + " '" + path + "' (missing or no permission)");
  const std::streamoff size = in.tellg();
  if (size <= 0) throw Error(what + " '" + path + "' is empty or not a file");
  std::vector<uchar> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size)) throw Error("cannot read " + what + " '" + path + "'");
  return bytes;
}

// ---- skipzoo.json from ModelProto.metadata_props, read in protobuf's wire format ------------
// OpenCV DNN does not expose metadata_props, and the few wire rules needed are shorter than a
// second dependency (libprotobuf + ONNX's generated classes).
struct Wire {
  const uchar *p, *end;
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && p != end; shift += 7) {
      v |= uint64_t(*p & 0x7f) << shift;
      if (!(*p++ & 0x80)) return v;
    }
    throw Error("truncated or malformed protobuf data");
  }
  Wire take(uint64_t n) {
    if (n > uint64_t(end - p)) throw Error("truncated protobuf data");
    p += n;
    return {p - n, p};
  }
  Wire bytes() { return take(varint()); }  // a length-delimited field's payload
  void skip(int wire_type) {                // a field this program does not need (weights, nodes, ...)
    if (wire_type == 0) varint();
    else if (wire_type == 2) bytes();
    else if (wire_type == 1 || wire_type == 5) take(wire_type == 1 ? 8 : 4);
    else throw Error("unsupported protobuf wire type " + std::to_string(wire_type));
  }
};

// metadata_props is ModelProto field 14, StringStringEntryProto {1: key, 2: value}; a model
// without a graph (field 7) is no ONNX model.
bool onnx_metadata(const std::vector<uchar>& file, const std::string& key, std::string& value) {
  Wire model{file.data(), file.data() + file.size()};
  bool graph = false, found = false;
  while (model.p != model.end) {
    const uint64_t tag = model.varint();
    if (tag >> 3 == 0) throw Error("not a protobuf message");
    if (tag == (14 << 3 | 2)) {
      Wire entry = model.bytes();
      std::string text[3];
      while (entry.p != entry.end) {
        const uint64_t t = entry.varint();
        if (t == (1 << 3 | 2) || t == (2 << 3 | 2)) {
          const Wire s = entry.bytes();
          text[t >> 3].assign(reinterpret_cast<const char*>(s.p), size_t(s.end - s.p));
        } else {
          entry.skip(int(t & 7));
        }
      }
      if (text[1] == key) value = text[2], found = true;
    } else {
      graph = graph || tag == (7 << 3 | 2);
      model.skip(int(tag & 7));
    }
  }
  if (!graph) throw Error("it has no ONNX graph");
  return found;
}

// ---- The deployment record: skipzoo::data::DeployInfo's keys and defaults (docs/export.md) ---
struct Deploy {
  int classes = 0, in_channels = 0, tile = 512;
  int multiple = 0;            // tiles of small images shrink to a multiple of this; 0: full tiles
  double overlap = 0.5;
  std::vector<float> mean, std;
  bool colours = false;        // mask_mapping kind "colors": keys are 0xRRGGBB
  std::vector<uint32_t> keys;  // stored mask value of each class
  uint32_t fallback = 255;     // the value ignored pixels would get; counts in the 8/16-bit choice
};

uint32_t hex_colour(const std::string& s) {
  if (s.size() != 7 || s[0] != '#' || s.find_first_not_of("0123456789abcdefABCDEF", 1) != std::string::npos)
    throw Error("invalid colour '" + s + "' in mask_mapping");
  return uint32_t(std::stoul(s.substr(1), nullptr, 16));
}

// Extent::side(): `256` or [height, width], whose larger side a square tile needs; 0 if unset.
int extent_side(const cv::FileNode& n) {
  if (n.isSeq() && n.size() == 2) return std::max(int(n[0]), int(n[1]));
  return n.isInt() ? int(n) : 0;
}

// OpenCV 4.6's JSON reader rejects null (e.g. "ignore": null), so nulls outside strings become
// empty lists, which no field below takes for a value.
std::string without_nulls(std::string json) {
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    if (in_string && json[i] == '\\') ++i;  // an escaped character
    else if (json[i] == '"') in_string = !in_string;
    else if (!in_string && json.compare(i, 4, "null") == 0) json.replace(i, 4, "[]");
  }
  return json;
}

Deploy parse_deploy(const std::string& json) {
  const int mode = cv::FileStorage::READ | cv::FileStorage::MEMORY | cv::FileStorage::FORMAT_JSON;
  cv::FileStorage fs(without_nulls(json), mode);
  const cv::FileNode root = fs.root(), onnx = root["onnx"], map = root["mask_mapping"];
  if (std::string(root["format"]) != "skipzoo.onnx") throw Error("skipzoo.json's format is not \"skipzoo.onnx\"");
  const std::string task = root["task"], shapes = onnx["shapes"];
  if (task != "segmentation") throw Error("it is a '" + task + "' model; this program runs segmentation models");
  Deploy d;
  d.classes = int(root["model"]["classes"]);
  d.in_channels = int(root["model"]["in_channels"]);
  if (d.classes < 1 || d.classes > 254 || d.in_channels < 1) throw Error("no valid model.classes and in_channels");
  // As skipzoo predict: U-Nets exported with dynamic shapes pad inside the graph (ONNX Runtime only).
  if (std::string(onnx["runtimes"]).find("opencv") == std::string::npos)
    throw Error("it was exported with --onnx-shapes " + shapes + ", which needs ONNX Runtime; export it again " +
                "with --onnx-shapes multiple for OpenCV DNN");
  // tile_side(): the tile's larger side, else default_tile(patch) = max(patch side, 512).
  d.tile = extent_side(root["tile"]) > 0 ? extent_side(root["tile"]) : std::max(extent_side(root["patch"]), 512);
  if (!root["overlap"].empty()) d.overlap = double(root["overlap"]);
  if (!(d.overlap >= 0 && d.overlap < 1)) throw Error("skipzoo.json's overlap is not in [0, 1)");
  // The graph takes sides that are multiples of model.input_multiple (onnx.input_multiple in
  // older exports, whose tiles never shrink), or one fixed size.
  const cv::FileNode given = root["model"]["input_multiple"];
  const int multiple = std::max(1, given.isInt() ? int(given) : onnx["input_multiple"].isInt() ? int(onnx["input_multiple"]) : 1);
  d.multiple = given.isInt() && shapes == "multiple" ? multiple : 0;  // Predictor::tile_multiple()
  const std::string side = std::to_string(d.tile);
  if (d.tile % multiple != 0 || (shapes.rfind("static:", 0) == 0 && shapes != "static:" + side + "x" + side))
    throw Error("its graph (" + shapes + ", sides a multiple of " + std::to_string(multiple) +
                ") cannot take the " + side + " px tiles of its deployment record");
  for (const auto& [key, out] : {std::pair{"mean", &d.mean}, std::pair{"std", &d.std}})
    for (const auto& v : root["normalization"][key]) out->push_back(float(double(v)));  // as nlohmann's get<float>()
  // Normalization::check: none, one for all channels, or one per channel; every std > 0.
  const auto fits = [&](const std::vector<float>& v) { return v.size() <= 1 || int(v.size()) == d.in_channels; };
  if (!fits(d.mean) || !fits(d.std) || std::count_if(d.std.begin(), d.std.end(), [](float s) { return !(s > 0); }))
    throw Error("its normalization does not fit in_channels, or a std is not positive");
  if (map.empty()) {  // MaskMapping::identity(classes): values 0..K-1, ignore 255
    for (int c = 0; c < d.classes; ++c) d.keys.push_back(uint32_t(c));
  } else {
    d.colours = std::string(map["kind"]) == "colors";
    for (const auto& v : map[d.colours ? "colors" : "values"])
      d.keys.push_back(d.colours ? hex_colour(v) : uint32_t(int(v)));
    // MaskMapping: an ignore value that is also a class, out of range or null means none (0).
    const cv::FileNode ignore = map["ignore"];
    d.fallback = ignore.isString() ? hex_colour(ignore) : ignore.isInt() ? uint32_t(int(ignore)) : 0;
    if (std::count(d.keys.begin(), d.keys.end(), d.fallback) || (!d.colours && d.fallback > 65535)) d.fallback = 0;
  }
  if (int(d.keys.size()) != d.classes) throw Error("skipzoo.json's mask_mapping does not list one value per class");
  return d;
}

// ---- Image -> normalised float [C, H, W], as predict reads it ---------------------------------
cv::Mat read_image(const std::string& path, int in_channels) {
  // IMREAD_UNCHANGED, as skipzoo decodes: 16 bits and alpha kept, no EXIF rotation.
  cv::Mat m = cv::imdecode(read_file(path, "image"), cv::IMREAD_UNCHANGED);
  if (m.empty()) throw Error("image '" + path + "' cannot be decoded (corrupt or not PNG/JPEG/TIFF/BMP)");
  if ((m.depth() != CV_8U && m.depth() != CV_16U) || (m.channels() != 1 && m.channels() != 3 && m.channels() != 4))
    throw Error("image '" + path + "': only 8/16-bit gray, RGB and RGBA images are supported");
  // skipzoo works in RGB: BGR -> RGB first, then convert_channels' conversions (weights are RGB's).
  if (m.channels() >= 3) cv::cvtColor(m, m, m.channels() == 3 ? cv::COLOR_BGR2RGB : cv::COLOR_BGRA2RGBA);
  const int have = m.channels();
  if (in_channels == 1 && have != 1) cv::cvtColor(m, m, have == 4 ? cv::COLOR_RGBA2GRAY : cv::COLOR_RGB2GRAY);
  if (in_channels == 3 && have != 3) cv::cvtColor(m, m, have == 1 ? cv::COLOR_GRAY2RGB : cv::COLOR_RGBA2RGB);
  if (m.channels() != in_channels)  // a 4-channel model takes RGBA files as stored, nothing else
    throw Error("image '" + path + "' has " + std::to_string(m.channels()) + " channels; the model takes " +
                std::to_string(in_channels));
  return m;
}

// (x * unit - mean) / std folded into x * scale + shift, scale rounded from double and shift
// computed in float, as skipzoo's image_to_tensor does.
template <typename T>
std::vector<float> to_chw(const cv::Mat& m, const Deploy& d) {
  const int C = m.channels();
  const double unit = m.depth() == CV_8U ? 1.0 / 255.0 : 1.0 / 65535.0;
  const auto pick = [](const std::vector<float>& v, int c, float none) {
    return v.empty() ? none : v[v.size() > 1 ? c : 0];
  };
  std::vector<float> out(size_t(C) * m.rows * m.cols);
  for (int c = 0; c < C; ++c) {
    const float mean = pick(d.mean, c, 0.f), sd = pick(d.std, c, 1.f);
    const float scale = float(unit / sd), shift = -mean / sd;
    for (int y = 0; y < m.rows; ++y) {
      float* dst = out.data() + (size_t(c) * m.rows + y) * m.cols;
      for (int x = 0; x < m.cols; ++x) dst[x] = float(m.ptr<T>(y)[x * C + c]) * scale + shift;
    }
  }
  return out;
}

// ---- Sliding window: skipzoo::data::sliding_window with predict's TileOptions ----------------
std::vector<int> tile_starts(int size, int tile, double overlap) {
  if (size <= tile) return {0};
  const double step = std::max(1.0, double(tile) * (1.0 - overlap));
  const int n = int(std::ceil(double(size - tile) / step)) + 1;
  const double actual = double(size - tile) / double(n - 1);
  std::vector<int> starts;
  for (int i = 0; i < n; ++i) starts.push_back(int(std::llround(actual * double(i))));
  return starts;
}

// tile_shape(): along an axis where the image is smaller than the tile, the side rounded up to
// the multiple (at most the tile); else the tile.
int tile_side(int size, int tile, int multiple) {
  return multiple == 0 || size >= tile ? tile : std::min(tile, (std::max(size, 1) + multiple - 1) / multiple * multiple);
}

// exp(-d^2 / 2 sigma^2) around (n - 1) / 2 in double, sigma = n / 8.
std::vector<double> gaussian_axis(int n) {
  const double sigma = std::max(1e-6, double(n) * 0.125);
  std::vector<double> g(n);
  for (int i = 0; i < n; ++i) {
    const double d = double(i) - (double(n) - 1.0) / 2.0;
    g[i] = std::exp(-(d * d) / (2 * sigma * sigma));
  }
  return g;
}

// The [th, tw] outer product of the two axes' Gaussians divided by its maximum, rounded to
// float; zeros (underflow) become the smallest non-zero weight.
std::vector<float> gaussian(int th, int tw) {
  const std::vector<double> gy = gaussian_axis(th), gx = gaussian_axis(tw);
  // The outer product's maximum (rounding is monotonic).
  const double top = *std::max_element(gy.begin(), gy.end()) * *std::max_element(gx.begin(), gx.end());
  std::vector<float> w(size_t(th) * tw);
  for (int i = 0; i < th; ++i)
    for (int j = 0; j < tw; ++j) w[size_t(i) * tw + j] = float(gy[i] * gx[j] / top);
  float low = 0;
  for (float v : w) low = v > 0 && (low == 0 || v < low) ? v : low;
  for (float& v : w) v = v > 0 ? v : low;
  return w;
}

// Class ids of image x [C, h, w]: tiles of 4 through the net, logits * weight summed in tile
// order, divided by the summed weights, argmax (torch's: first maximum, NaN wins).
cv::Mat segment(cv::dnn::Net& net, const std::vector<float>& x, int C, int h, int w, const Deploy& d) {
  const int th = tile_side(h, d.tile, d.multiple), tw = tile_side(w, d.tile, d.multiple), K = d.classes, batch = 4;
  // Images smaller than a tile are padded, centred, with 0 (normalised units), cropped back later.
  const int H = std::max(h, th), W = std::max(w, tw), top = (H - h) / 2, left = (W - w) / 2;
  std::vector<float> padded(size_t(C) * H * W, 0.f);
  for (int c = 0; c < C; ++c)
    for (int y = 0; y < h; ++y)
      std::copy_n(&x[(size_t(c) * h + y) * w], w, &padded[(size_t(c) * H + y + top) * W + left]);
  std::vector<std::pair<int, int>> origins;
  for (int y : tile_starts(H, th, d.overlap))
    for (int x0 : tile_starts(W, tw, d.overlap)) origins.emplace_back(y, x0);
  const std::vector<float> weight = gaussian(th, tw);
  std::vector<float> sum(size_t(K) * H * W, 0.f), weights(size_t(H) * W, 0.f);
  for (size_t first = 0; first < origins.size(); first += batch) {
    const int n = int(std::min(origins.size() - first, size_t(batch))), dims[] = {n, C, th, tw};
    cv::Mat blob(4, dims, CV_32F);
    float* b = blob.ptr<float>();
    for (int i = 0; i < n; ++i)
      for (int c = 0; c < C; ++c)
        for (int y = 0; y < th; ++y, b += tw)
          std::copy_n(&padded[(size_t(c) * H + origins[first + i].first + y) * W + origins[first + i].second], tw, b);
    net.setInput(blob);
    const cv::Mat out = net.forward();
    if (out.type() != CV_32F || out.dims != 4 || out.size[0] != n || out.size[1] != K || out.size[2] != th ||
        out.size[3] != tw)
      throw Error("its output is not [N, " + std::to_string(K) + ", " + std::to_string(th) + ", " + std::to_string(tw) +
                  "] logits for [N, C, " + std::to_string(th) + ", " + std::to_string(tw) + "] tiles");
    const float* l = out.ptr<float>();
    for (int i = 0; i < n; ++i) {
      const auto [y0, x0] = origins[first + i];
      for (int k = 0; k < K; ++k)
        for (int y = 0; y < th; ++y, l += tw) {  // two roundings, as torch's mul then add_ (no FMA)
          float* s = &sum[(size_t(k) * H + y0 + y) * W + x0];
          for (int x1 = 0; x1 < tw; ++x1) s[x1] += l[x1] * weight[size_t(y) * tw + x1];
        }
      for (int y = 0; y < th; ++y)
        for (int x1 = 0; x1 < tw; ++x1) weights[size_t(y0 + y) * W + x0 + x1] += weight[size_t(y) * tw + x1];
    }
  }
  cv::Mat labels(h, w, CV_8U);
  for (int y = 0; y < h; ++y)
    for (int x1 = 0; x1 < w; ++x1) {
      const size_t p = size_t(y + top) * W + x1 + left;
      float best = sum[p] / weights[p];
      int arg = 0;
      for (int k = 1; k < K; ++k) {
        const float v = sum[size_t(k) * H * W + p] / weights[p];
        if (!std::isnan(best) && (v > best || std::isnan(v))) best = v, arg = k;
      }
      labels.at<uchar>(y, x1) = uchar(arg);
    }
  return labels;
}

// ---- Mask: MaskMapping::unmap, written as skipzoo's write_image does -------------------------
cv::Mat unmap(const cv::Mat& labels, const Deploy& d) {
  // Gray values are 16-bit when a class value or the ignore value exceeds 255; colours are
  // RGB keys, stored in OpenCV's BGR order.
  const bool wide = !d.colours && std::max(d.fallback, *std::max_element(d.keys.begin(), d.keys.end())) > 255;
  cv::Mat out(labels.size(), d.colours ? CV_8UC3 : wide ? CV_16U : CV_8U);
  for (int y = 0; y < labels.rows; ++y)
    for (int x = 0; x < labels.cols; ++x) {
      const uint32_t k = d.keys[labels.at<uchar>(y, x)];
      if (d.colours) out.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(k), uchar(k >> 8), uchar(k >> 16));
      else if (wide) out.at<uint16_t>(y, x) = uint16_t(k);
      else out.at<uchar>(y, x) = uchar(k);
    }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const char* usage = "usage: deploy_opencv MODEL.onnx IMAGE OUT_MASK.png\n";
  if (argc != 4) return std::cerr << usage, 2;
  const std::string model_path = argv[1], image_path = argv[2], out_path = argv[3];
  if (out_path.size() < 5 || out_path.compare(out_path.size() - 4, 4, ".png") != 0)
    return std::cerr << "deploy_opencv: error: the mask must be a .png file, got '" << out_path << "'\n" << usage, 2;
  try {
    const auto bytes = read_file(model_path, "model");
    Deploy d;
    try {
      std::string json;
      if (!onnx_metadata(bytes, "skipzoo.json", json)) throw Error("it has no skipzoo.json in its metadata_props");
      d = parse_deploy(json);
    } catch (const std::exception& e) {  // Error, or cv::Exception for invalid JSON
      throw Error("model '" + model_path + "' is not a skipzoo ONNX export this program can run: " + e.what());
    }
    const cv::Mat image = read_image(image_path, d.in_channels);  // d.in_channels channels
    cv::Mat mask;
    try {
      cv::dnn::Net net = cv::dnn::readNetFromONNX(bytes);
      const auto x = image.depth() == CV_8U ? to_chw<uchar>(image, d) : to_chw<uint16_t>(image, d);
      mask = unmap(segment(net, x, d.in_channels, image.rows, image.cols, d), d);
    } catch (const cv::Exception& e) {
      throw Error("OpenCV DNN cannot run model '" + model_path + "': " + e.err);
    } catch (const Error& e) {
      throw Error("OpenCV DNN cannot run model '" + model_path + "': " + e.what());
    }
    if (!cv::imwrite(out_path, mask)) throw Error("cannot write '" + out_path + "' (missing folder or no permission)");
  } catch (const std::exception& e) {
    std::cerr << "deploy_opencv: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
