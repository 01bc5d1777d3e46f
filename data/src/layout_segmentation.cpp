// Segmentation datasets: pair images with masks, decode both once, settle the mapping.
#include <algorithm>
#include <filesystem>

#include "layout_check.h"
#include "parallel.h"
#include "skipzoo/data/error.h"
#include "skipzoo/data/image.h"
#include "skipzoo/data/layout.h"

namespace fs = std::filesystem;

namespace skipzoo::data {

namespace {
struct PairCheck {
  std::string problem;
  std::map<uint32_t, int64_t> counts;
  bool colour = false;        // the mask
  bool image_colour = false;  // the image
};

PairCheck check_pair(const SegmentationSample& s, int64_t min_side) {
  PairCheck r;
  cv::Mat image, mask;
  try {
    image = read_image(s.image);
  } catch (const DataError& e) {
    r.problem = e.what();
    return r;
  }
  if (!(r.problem = check_image_size(image, s.image, min_side)).empty()) return r;
  r.image_colour = image.channels() >= 3;
  try {
    mask = read_raw_mask(s.mask);
  } catch (const DataError& e) {
    r.problem = e.what();
    return r;
  }
  if (mask.size() != image.size()) {
    r.problem = s.mask + ": the mask is " + std::to_string(mask.cols) + "x" + std::to_string(mask.rows) +
                " but its image " + s.image + " is " + std::to_string(image.cols) + "x" + std::to_string(image.rows);
    return r;
  }
  try {
    r.counts = mask_key_counts(mask, &r.colour);
  } catch (const std::invalid_argument& e) {
    r.problem = s.mask + ": " + e.what();
  }
  return r;
}
}  // namespace

SegmentationDataset load_segmentation(const std::string& root, const SegmentationLayout& layout) {
  SegmentationDataset out;
  std::vector<std::string> problems;
  std::error_code ec;
  // train/ and val/: an explicit split (val/ may be empty); train/ alone is split by fraction.
  const bool has_train = fs::is_directory(fs::path(root) / "train", ec);
  out.explicit_split = has_train && fs::is_directory(fs::path(root) / "val", ec);
  std::vector<SegmentationSample> all =
      pair_segmentation_files(has_train ? (fs::path(root) / "train").string() : root, layout.mask_suffix, problems);
  const size_t n_train = all.size();
  if (out.explicit_split) {
    const auto val = pair_segmentation_files((fs::path(root) / "val").string(), layout.mask_suffix, problems, true);
    all.insert(all.end(), val.begin(), val.end());
  }

  std::vector<PairCheck> checks(all.size());
  parallel_for(static_cast<int64_t>(all.size()), layout.check.threads,
               [&](int64_t i) { checks[static_cast<size_t>(i)] = check_pair(all[static_cast<size_t>(i)], layout.check.min_side); });

  const bool any_good = std::any_of(checks.begin(), checks.end(), [](const PairCheck& c) { return c.problem.empty(); });
  if (!any_good) {  // nothing to scan: report what went wrong
    for (const auto& c : checks) problems.push_back(c.problem);
    settle_problems(root, problems, layout.check, out.skipped);
    throw data_error(root, "no usable image/mask pairs");
  }
  if (layout.mapping) {
    out.mapping = *layout.mapping;
  } else {
    std::map<uint32_t, int64_t> counts;
    int colour = -1;
    for (const auto& c : checks) {
      if (!c.problem.empty()) continue;
      if (colour >= 0 && colour != int(c.colour))
        throw data_error(root, "some masks are gray and some are colour images; give the mapping explicitly");
      colour = c.colour;
      for (const auto& [k, n] : c.counts) counts[k] += n;
    }
    if (colour < 0) colour = 0;
    out.mapping = MaskMapping::from_scan(counts, colour, layout.max_scan_classes, layout.ignore_value, root);
  }
  for (size_t i = 0; i < all.size(); ++i) {
    auto& c = checks[i];
    if (c.problem.empty()) {
      const auto why = out.mapping.check_counts(c.counts, c.colour);
      if (!why.empty()) c.problem = all[i].mask + ": " + why;
    }
    if (!c.problem.empty()) problems.push_back(c.problem);
  }
  settle_problems(root, problems, layout.check, out.skipped);

  std::vector<SegmentationSample> good_train, good_val;
  for (size_t i = 0; i < all.size(); ++i) {
    if (!checks[i].problem.empty()) continue;
    (i < n_train ? good_train : good_val).push_back(all[i]);
    out.colour = out.colour || checks[i].image_colour;
  }
  if (good_train.empty()) throw data_error(root, "no usable image/mask pairs left");
  if (out.explicit_split) {
    out.train = std::move(good_train);
    out.val = std::move(good_val);
  } else {
    apply_split(good_train, split_indices(static_cast<int64_t>(good_train.size()), layout.split), out.train, out.val);
  }
  return out;
}

}  // namespace skipzoo::data
