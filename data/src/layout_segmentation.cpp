// Segmentation datasets: pair images with masks, decode both once, settle the mapping.
#include <algorithm>
#include <filesystem>
#include <fstream>

#include "layout_check.h"
#include "parallel.h"
#include "skipzoo/data/error.h"
#include "skipzoo/data/image.h"
#include "skipzoo/data/layout.h"

namespace fs = std::filesystem;

namespace skipzoo::data {

namespace {

// The scanned classes that cover under 0.1% of the labelled (not ignored) pixels, e.g.
// "values 1 (12 pixels), 254 (9 pixels)"; "" when there are none.
std::string rare_classes(const std::map<uint32_t, int64_t>& counts, const MaskMapping& mapping) {
  const auto count_of = [&](uint32_t key) {
    const auto it = counts.find(key);
    return it == counts.end() ? int64_t{0} : it->second;
  };
  int64_t labelled = 0;
  for (uint32_t key : mapping.keys()) labelled += count_of(key);
  std::string rare;
  for (uint32_t key : mapping.keys()) {
    if (count_of(key) * 1000 >= labelled) continue;
    const int64_t n = count_of(key);
    rare += (rare.empty() ? "" : ", ") + mapping.key_text(key) + " (" + std::to_string(n) + (n == 1 ? " pixel)" : " pixels)");
  }
  if (rare.empty()) return rare;
  return (mapping.kind() == MaskMapping::Kind::Colors ? "colours " : "values ") + rare;
}
struct PairCheck {
  std::string problem;
  std::map<uint32_t, int64_t> counts;
  bool colour = false;        // the mask
  bool palette = false;       // the mask is an indexed-colour PNG (as Pascal VOC's are)
  bool image_colour = false;  // the image
};

// A PNG's colour type from its IHDR (3: indexed colour), or -1 for another format.
int png_colour_type(const std::string& path) {
  char head[26] = {0};
  std::ifstream in(path, std::ios::binary);
  const bool png = in.read(head, sizeof head) && std::string(head + 1, 3) == "PNG" && std::string(head + 12, 4) == "IHDR";
  return png ? static_cast<unsigned char>(head[25]) : -1;
}

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
  r.palette = png_colour_type(s.mask) == 3;
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

// The masks that do not fit with the rest, for the message that refuses the set: the colour
// ones among gray ones (or the other way round), or the ones with the most distinct values
// (a lossy JPEG mask among PNG ones brings hundreds).
std::string name_odd_masks(const std::vector<SegmentationSample>& all, const std::vector<PairCheck>& checks,
                           bool by_colour) {
  std::vector<size_t> good;
  for (size_t i = 0; i < checks.size(); ++i) {
    if (checks[i].problem.empty()) good.push_back(i);
  }
  std::vector<size_t> odd;
  if (by_colour) {
    const auto colour = std::count_if(good.begin(), good.end(), [&](size_t i) { return checks[i].colour; });
    const bool minority_colour = 2 * colour <= static_cast<int64_t>(good.size());
    for (size_t i : good) {
      if (checks[i].colour == minority_colour) odd.push_back(i);
    }
  } else {
    odd = good;
    const auto values = [&](size_t i) { return checks[i].counts.size(); };
    std::stable_sort(odd.begin(), odd.end(), [&](size_t a, size_t b) { return values(a) > values(b); });
    const auto typical = values(odd[odd.size() / 2]);
    odd.erase(std::find_if(odd.begin(), odd.end(), [&](size_t i) { return values(i) <= typical; }), odd.end());
  }
  if (odd.empty()) return "";
  std::string text = by_colour ? " The " + std::to_string(odd.size()) + (odd.size() == 1 ? " mask" : " masks") + " in "
                                     + (checks[odd[0]].colour ? "colour" : "gray") + ":"
                               : " The masks with more values than the others:";
  for (size_t k = 0; k < odd.size() && k < 5; ++k) {
    const auto& c = checks[odd[k]];
    text += " " + all[odd[k]].mask + (by_colour ? "" : " (" + std::to_string(c.counts.size()) + " values)");
  }
  return text + (odd.size() > 5 ? " and " + std::to_string(odd.size() - 5) + " more." : ".");
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
    const auto palette = std::find_if(checks.begin(), checks.end(),
                                      [](const PairCheck& c) { return c.problem.empty() && c.palette; });
    if (palette != checks.end()) {
      throw data_error(all[static_cast<size_t>(palette - checks.begin())].mask,
                       "an indexed-colour (palette) PNG mask, as Pascal VOC's are: with the default mapping every "
                       "palette colour, the void border's too, would become a class. Give the mapping: --mask-values "
                       "voc (VOC's palette, void ignored) or the colours, e.g. --mask-values '#000000,#800000'");
    }
    std::map<uint32_t, int64_t> counts;
    int colour = -1;
    for (const auto& c : checks) {
      if (!c.problem.empty()) continue;
      if (colour >= 0 && colour != int(c.colour)) {
        throw data_error(root, "some masks are gray and some are colour images; give the mapping explicitly." +
                                   name_odd_masks(all, checks, true));
      }
      colour = c.colour;
      for (const auto& [k, n] : c.counts) counts[k] += n;
    }
    if (colour < 0) colour = 0;
    try {
      out.mapping = MaskMapping::from_scan(counts, colour, layout.max_scan_classes, layout.ignore_value, root);
    } catch (const DataError& e) {
      throw DataError(e.what() + name_odd_masks(all, checks, false));
    }
    const auto rare = rare_classes(counts, out.mapping);
    if (!rare.empty()) {
      out.warnings.push_back(root + ": the scan made classes of " + rare +
                             ", under 0.1% of the labelled pixels each (mapping: " + out.mapping.describe() +
                             "). If they are noise (lossy JPEG masks, anti-aliased edges), list the real class "
                             "values instead, e.g. --mask-values 0,255");
    }
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
