// Finding files on disk: image listings, image/mask pairing and the deterministic split.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "layout_check.h"
#include "skipzoo/data/error.h"
#include "skipzoo/data/image.h"
#include "skipzoo/data/layout.h"
#include "skipzoo/data/random.h"

namespace fs = std::filesystem;

namespace skipzoo::data {

std::vector<std::string> list_images(const std::string& dir, std::vector<std::string>& problems) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw data_error(dir, "folder not found");
  std::vector<std::string> images;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) throw data_error(dir, "cannot list the folder: " + ec.message());
    const auto name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {  // hidden files and folders (.DS_Store, .git)
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_symlink(ec) && !fs::exists(it->path(), ec)) {  // it points nowhere
      problems.push_back(it->path().string() + ": broken link (it points to " +
                         fs::read_symlink(it->path(), ec).string() + ", which does not exist)");
      continue;
    }
    if (!it->is_regular_file()) continue;
    if (has_image_extension(name)) images.push_back(it->path().string());
    else problems.push_back(it->path().string() + ": not an image file (expected .png, .jpg, .jpeg, .tif, .tiff or .bmp)");
  }
  std::sort(images.begin(), images.end());
  return images;
}

namespace {
// "sub/a.png" relative to `dir`, without the extension.
std::string relative_stem(const std::string& path, const std::string& dir) {
  auto rel = fs::path(path).lexically_relative(dir);
  return (rel.parent_path() / rel.stem()).string();
}
}  // namespace

std::vector<SegmentationSample> pair_segmentation_files(const std::string& dir, const std::string& mask_suffix,
                                                        std::vector<std::string>& problems, bool allow_empty) {
  const std::string image_dir = (fs::path(dir) / "images").string(), mask_dir = (fs::path(dir) / "masks").string();
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw data_error(dir, "no such folder");
  if (!fs::is_directory(dir, ec)) throw data_error(dir, "not a folder (--data takes a data set folder)");
  if (!fs::is_directory(image_dir, ec) || !fs::is_directory(mask_dir, ec))
    throw data_error(dir, "not a segmentation dataset: expected the folders images/ and masks/ (or train/ and val/ holding them)");
  const auto images = list_images(image_dir, problems);
  const auto masks = list_images(mask_dir, problems);
  if (images.empty() && !allow_empty) throw data_error(image_dir, "no images found (the folder is empty)");

  std::map<std::string, std::vector<std::string>> by_stem;  // mask stem -> mask files
  for (const auto& m : masks) by_stem[relative_stem(m, mask_dir)].push_back(m);
  std::vector<SegmentationSample> pairs;
  std::map<std::string, bool> used;
  int64_t unmatched = 0;
  for (const auto& image : images) {
    const std::string stem = relative_stem(image, image_dir) + mask_suffix;
    const auto it = by_stem.find(stem);
    if (it == by_stem.end()) {
      problems.push_back(image + ": no mask (looked for " + (fs::path(mask_dir) / stem).string() + ".<ext>)");
      ++unmatched;
    } else if (it->second.size() > 1) {
      problems.push_back(image + ": several masks match it (" + it->second[0] + ", " + it->second[1] + ")");
      used[stem] = true;
    } else {
      pairs.push_back({image, it->second[0]});
      used[stem] = true;
    }
  }
  for (const auto& [stem, files] : by_stem)
    if (!used.count(stem))
      for (const auto& f : files) problems.push_back(f + ": a mask without an image");
  if (unmatched == static_cast<int64_t>(images.size()) && !masks.empty())
    problems.push_back(dir + ": no image has a mask; is the mask suffix right? (suffix '" + mask_suffix +
                       "', e.g. a mask is named " + fs::path(masks[0]).filename().string() + ")");
  return pairs;
}

bool is_segmentation_layout(const std::string& root) {
  std::error_code ec;
  return fs::is_directory(fs::path(root) / "images", ec) || fs::is_directory(fs::path(root) / "train" / "images", ec);
}

std::vector<int64_t> split_indices(int64_t n, const SplitOptions& split) {
  if (split.val_fraction < 0 || split.val_fraction >= 1)
    throw std::invalid_argument("the validation fraction must be in [0, 1)");
  int64_t n_val = static_cast<int64_t>(std::llround(split.val_fraction * static_cast<double>(n)));
  if (split.val_fraction > 0 && n >= 2) n_val = std::clamp<int64_t>(n_val, 1, n - 1);
  else if (n < 2) n_val = 0;
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  Rng(split.seed).shuffle(order);
  std::vector<int64_t> val(order.begin(), order.begin() + n_val);
  std::sort(val.begin(), val.end());
  return val;
}

void settle_problems(const std::string& root, const std::vector<std::string>& problems, const CheckOptions& check,
                     std::vector<std::string>& skipped) {
  if (problems.empty()) return;
  if (!check.skip_bad) {
    std::string msg = root + ": " + std::to_string(problems.size()) + " problem" + (problems.size() > 1 ? "s" : "") +
                      " found (fix them, or skip the bad items with --skip-bad):";
    for (const auto& p : problems) msg += "\n  " + p;
    throw DataError(msg);
  }
  for (const auto& p : problems) {
    if (check.warn) check.warn(p);
    else std::fprintf(stderr, "warning: skipping %s\n", p.c_str());
    skipped.push_back(p);
  }
}

std::string check_image_size(const cv::Mat& image, const std::string& path, int64_t min_side) {
  if (image.cols < min_side || image.rows < min_side)
    return path + ": the image is " + std::to_string(image.cols) + "x" + std::to_string(image.rows) +
           " pixels; at least " + std::to_string(min_side) + "x" + std::to_string(min_side) + " is needed";
  return "";
}

}  // namespace skipzoo::data
