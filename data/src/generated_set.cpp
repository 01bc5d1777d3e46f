#include "generated_set.h"

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <skipzoo/models/weights.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "parallel.h"
#include "skipzoo/data/error.h"
#include "skipzoo/data/image.h"
#include "skipzoo/data/mask.h"

namespace fs = std::filesystem;

namespace skipzoo::data {

void write_generated_set(const GeneratedSet& set,
                         const std::function<std::pair<cv::Mat, cv::Mat>(int64_t, Rng&)>& make) {
  if (set.out.empty()) throw std::invalid_argument("an output folder is needed");
  if (set.count < 1) throw std::invalid_argument("the image count must be >= 1");
  std::error_code ec;
  for (const char* split : {"train", "val"})
    for (const char* kind : {"images", "masks"}) {
      fs::create_directories(fs::path(set.out) / split / kind, ec);
      if (ec) throw data_error((fs::path(set.out) / split / kind).string(), "cannot create the folder: " + ec.message());
    }
  const int64_t classes = static_cast<int64_t>(set.class_names.size());
  const MaskMapping mapping = set.mask_values.empty() ? MaskMapping::identity(classes) : MaskMapping::values(set.mask_values);
  const auto val = split_indices(set.count, {set.val_fraction, set.seed});
  std::vector<bool> is_val(static_cast<size_t>(set.count), false);
  for (int64_t i : val) is_val[static_cast<size_t>(i)] = true;

  std::atomic<int64_t> done{0};
  std::mutex progress_mutex;
  parallel_for(set.count, set.threads, [&](int64_t i) {
    Rng rng = Rng::for_sample(set.seed, static_cast<uint64_t>(i), 0);
    const auto [image, labels] = make(i, rng);
    char name[32];
    std::snprintf(name, sizeof name, "%05lld.png", static_cast<long long>(i));
    const fs::path dir = fs::path(set.out) / (is_val[static_cast<size_t>(i)] ? "val" : "train");
    write_image((dir / "images" / name).string(), image);
    write_mask((dir / "masks" / name).string(), labels, mapping);
    const int64_t n = ++done;
    if (set.progress) {
      std::lock_guard<std::mutex> lock(progress_mutex);
      set.progress(n, set.count);
    }
  });

  nlohmann::json meta{{"task", "segmentation"},
                      {"classes", set.class_names},
                      {"mask_mapping", nlohmann::json::parse(mapping.to_json())},
                      {"train", set.count - static_cast<int64_t>(val.size())},
                      {"val", static_cast<int64_t>(val.size())},
                      {"seed", set.seed}};
  models::write_file_atomic((fs::path(set.out) / "dataset.json").string(), meta.dump(2) + "\n");
}

cv::Mat texture(cv::Size size, Rng& rng) {
  cv::Mat sum = cv::Mat::zeros(size, CV_32F);
  cv::RNG noise_rng(rng.next());
  for (int cell : {4, 16, 48}) {  // coarse to fine blotches
    cv::Mat small(std::max(2, size.height / cell), std::max(2, size.width / cell), CV_32F), big;
    noise_rng.fill(small, cv::RNG::UNIFORM, 0.0, 1.0);
    cv::resize(small, big, size, 0, 0, cv::INTER_CUBIC);
    sum += big * (1.0 / 3.0);
  }
  cv::Mat stripes(size, CV_32F);  // a faint oriented pattern
  const double angle = rng.uniform(0, CV_PI), freq = rng.uniform(0.05, 0.3);
  for (int y = 0; y < size.height; ++y)
    for (int x = 0; x < size.width; ++x)
      stripes.at<float>(y, x) = static_cast<float>(0.5 + 0.5 * std::sin(freq * (x * std::cos(angle) + y * std::sin(angle))));
  cv::Mat out = sum * 0.75 + stripes * 0.25;
  return cv::min(cv::max(out, 0.0), 1.0);  // cubic interpolation overshoots a little
}

}  // namespace skipzoo::data
