// `data stats`: sizes, class frequencies and channel statistics of a dataset folder.
#include <nlohmann/json.hpp>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <mutex>
#include <sstream>

#include "layout_check.h"
#include "parallel.h"
#include "skipzoo/data/error.h"
#include "skipzoo/data/image.h"
#include "skipzoo/data/tools.h"

namespace fs = std::filesystem;

namespace skipzoo::data {

namespace {
struct ImageInfo {
  std::string problem;
  cv::Size size;
  std::vector<double> sum, sum_sq;
  double pixels = 0;
  std::map<uint32_t, int64_t> mask_counts;
  bool colour = false;
};

void measure(const cv::Mat& image, int channels, ImageInfo& info) {
  const cv::Mat conformed = convert_channels(image, channels);
  cv::Mat f;
  conformed.convertTo(f, CV_64F, unit_scale(conformed.depth()));
  info.size = image.size();
  info.pixels = static_cast<double>(image.total());
  info.sum.assign(static_cast<size_t>(channels), 0);
  info.sum_sq.assign(static_cast<size_t>(channels), 0);
  const cv::Scalar s = cv::sum(f), q = cv::sum(f.mul(f));
  for (int c = 0; c < channels; ++c) {
    info.sum[static_cast<size_t>(c)] = s[c];
    info.sum_sq[static_cast<size_t>(c)] = q[c];
  }
}
}  // namespace

DatasetStats dataset_stats(const std::string& root, const StatsOptions& options) {
  DatasetStats stats;
  std::vector<std::string> problems;
  std::vector<SegmentationSample> pairs;  // mask empty for classification
  std::vector<std::string> class_of;
  if (is_segmentation_layout(root)) {
    stats.task = "segmentation";
    std::error_code ec;
    const bool split = fs::is_directory(fs::path(root) / "train", ec);
    for (const std::string& dir : split ? std::vector<std::string>{"train", "val"} : std::vector<std::string>{""}) {
      const auto sub = dir.empty() ? root : (fs::path(root) / dir).string();
      if (!fs::is_directory(sub, ec)) continue;
      const auto found = pair_segmentation_files(sub, options.mask_suffix, problems, dir == "val");
      pairs.insert(pairs.end(), found.begin(), found.end());
    }
  } else {
    stats.task = "classification";
    ClassificationLayout layout;
    layout.split.val_fraction = 0;
    layout.check = options.check;
    const auto data = load_classification(root, layout);
    for (const auto& set : {data.train, data.val})
      for (const auto& s : set) {
        pairs.push_back({s.image, ""});
        class_of.push_back(data.class_names[static_cast<size_t>(s.label)]);
      }
  }
  if (pairs.empty()) throw data_error(root, "no images found");

  // The first readable image sets the channel count; the others are converted to it.
  int channels = 0;
  for (size_t i = 0; i < pairs.size() && channels == 0; ++i) {
    try {
      channels = read_image(pairs[i].image).channels();
    } catch (const DataError&) {
    }
  }
  std::vector<ImageInfo> infos(pairs.size());
  std::atomic<int64_t> done{0};
  std::mutex progress_mutex;
  parallel_for(static_cast<int64_t>(pairs.size()), options.check.threads, [&](int64_t i) {
    auto& info = infos[static_cast<size_t>(i)];
    const auto& p = pairs[static_cast<size_t>(i)];
    try {
      const cv::Mat image = read_image(p.image);
      if (!(info.problem = check_image_size(image, p.image, options.check.min_side)).empty()) return;
      measure(image, channels, info);
      if (!p.mask.empty()) {
        const cv::Mat mask = read_raw_mask(p.mask);
        if (mask.size() != image.size()) info.problem = p.mask + ": the mask's size differs from its image " + p.image;
        else info.mask_counts = mask_key_counts(mask, &info.colour);
      }
    } catch (const std::exception& e) {
      info.problem = e.what();
    }
    const int64_t n = ++done;
    if (options.progress) {
      std::lock_guard<std::mutex> lock(progress_mutex);
      options.progress(n, static_cast<int64_t>(pairs.size()));
    }
  });
  for (const auto& info : infos)
    if (!info.problem.empty()) problems.push_back(info.problem);
  settle_problems(root, problems, options.check, stats.skipped);

  std::vector<double> sum(static_cast<size_t>(channels), 0), sum_sq(static_cast<size_t>(channels), 0);
  double pixels = 0;
  for (size_t i = 0; i < infos.size(); ++i) {
    const auto& info = infos[i];
    if (!info.problem.empty() || info.pixels == 0) continue;
    ++stats.images;
    ++stats.sizes[{info.size.width, info.size.height}];
    pixels += info.pixels;
    for (size_t c = 0; c < sum.size(); ++c) sum[c] += info.sum[c], sum_sq[c] += info.sum_sq[c];
    for (const auto& [k, n] : info.mask_counts) stats.mask_values[k] += n;
    stats.colour_masks = stats.colour_masks || info.colour;
    if (!class_of.empty()) ++stats.images_per_class[class_of[i]];
  }
  stats.channels = channels;
  for (size_t c = 0; c < sum.size() && pixels > 0; ++c) {
    const double mean = sum[c] / pixels;
    stats.mean.push_back(mean);
    stats.std.push_back(std::sqrt(std::max(0.0, sum_sq[c] / pixels - mean * mean)));
  }
  return stats;
}

std::string format_stats(const DatasetStats& s) {
  std::ostringstream out;
  out << std::fixed;
  if (s.images == 0) return s.task + " dataset: no readable images\n";
  out << s.task << " dataset: " << s.images << " images, " << s.channels << " channel" << (s.channels > 1 ? "s" : "") << "\n";
  // Histogram of the longest side in power-of-two bins.
  std::map<int, int64_t> bins;
  int min_w = INT32_MAX, min_h = INT32_MAX, max_w = 0, max_h = 0;
  for (const auto& [wh, n] : s.sizes) {
    const int side = std::max(wh.first, wh.second);
    int lo = 1;
    while (lo * 2 <= side) lo *= 2;
    bins[lo] += n;
    min_w = std::min(min_w, wh.first), min_h = std::min(min_h, wh.second);
    max_w = std::max(max_w, wh.first), max_h = std::max(max_h, wh.second);
  }
  out << "image sizes: width " << min_w << ".." << max_w << ", height " << min_h << ".." << max_h << ", "
      << s.sizes.size() << " distinct\n  longest side      images\n";
  int64_t most = 1;
  for (const auto& [lo, n] : bins) most = std::max(most, n);
  for (const auto& [lo, n] : bins)
    out << "  " << std::setw(6) << lo << "-" << std::left << std::setw(6) << (2 * lo - 1) << std::right << std::setw(9)
        << n << "  " << std::string(static_cast<size_t>(40 * n / most), '#') << "\n";
  out << std::setprecision(4) << "channel mean:";
  for (double m : s.mean) out << " " << m;
  out << "\nchannel std: ";
  for (double d : s.std) out << " " << d;
  out << "\n";
  if (!s.mask_values.empty()) {
    double total = 0;
    for (const auto& [k, n] : s.mask_values) total += static_cast<double>(n);
    out << "mask " << (s.colour_masks ? "colours" : "values") << " (pixel frequency):\n";
    for (const auto& [k, n] : s.mask_values) {
      std::ostringstream key;
      if (s.colour_masks) key << "#" << std::hex << std::setw(6) << std::setfill('0') << k;
      else key << k;
      out << "  " << std::left << std::setw(9) << key.str() << std::right << std::setw(12) << n << "  " << std::setprecision(2)
          << std::setw(6) << 100.0 * static_cast<double>(n) / total << "%\n";
    }
  }
  if (!s.images_per_class.empty()) {
    out << "images per class:\n";
    for (const auto& [name, n] : s.images_per_class) out << "  " << std::left << std::setw(20) << name << std::right << n << "\n";
  }
  if (!s.skipped.empty()) out << s.skipped.size() << " bad files skipped\n";
  return out.str();
}

std::string stats_to_json(const DatasetStats& s) {
  nlohmann::json sizes = nlohmann::json::array(), values = nlohmann::json::object();
  for (const auto& [wh, n] : s.sizes) sizes.push_back({{"width", wh.first}, {"height", wh.second}, {"images", n}});
  for (const auto& [k, n] : s.mask_values) values[std::to_string(k)] = n;
  return nlohmann::json{{"task", s.task},       {"images", s.images},         {"channels", s.channels},
                        {"sizes", sizes},       {"mean", s.mean},             {"std", s.std},
                        {"mask_values", values}, {"colour_masks", s.colour_masks},
                        {"images_per_class", s.images_per_class}, {"skipped", s.skipped}}
      .dump(2);
}

}  // namespace skipzoo::data
