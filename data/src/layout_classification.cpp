// Classification datasets: ImageFolder trees or a CSV of path,label; every image decoded once.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "layout_check.h"
#include "parallel.h"
#include "skipzoo/data/error.h"
#include "skipzoo/data/image.h"
#include "skipzoo/data/layout.h"

namespace fs = std::filesystem;

namespace skipzoo::data {

namespace {
struct Entry {
  std::string image, label;
};

bool is_number(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

// Class names sorted; all-numeric labels sort by value ("2" before "10").
std::vector<std::string> sorted_names(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  if (std::all_of(names.begin(), names.end(), is_number))
    std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
      return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
  return names;
}

// ROOT/<class>/**: class folders, images inside them; images directly in ROOT are problems.
std::vector<Entry> scan_image_folder(const std::string& root, std::vector<std::string>& classes,
                                     std::vector<std::string>& problems) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw data_error(root, "folder not found");
  std::vector<Entry> entries;
  for (const auto& item : fs::directory_iterator(root, ec)) {
    const auto name = item.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (item.is_directory()) {
      classes.push_back(name);
      const auto images = list_images(item.path().string(), problems);
      if (images.empty()) problems.push_back(item.path().string() + ": class folder without images");
      for (const auto& image : images) entries.push_back({image, name});
    } else if (has_image_extension(name)) {
      problems.push_back(item.path().string() + ": image outside a class folder (expected ROOT/<class>/<image>)");
    }
  }
  if (entries.empty()) throw data_error(root, "no images found (expected ROOT/<class>/<image> files)");
  return entries;
}

std::vector<Entry> read_csv(const std::string& csv, std::vector<std::string>& problems) {
  std::ifstream in(csv);
  if (!in) throw data_error(csv, "cannot open the CSV file");
  const fs::path base = fs::path(csv).parent_path();
  std::vector<Entry> entries;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto comma = line.rfind(',');
    if (comma == std::string::npos || comma == 0 || comma + 1 == line.size()) {
      problems.push_back(csv + ":" + std::to_string(number) + ": expected 'path,label', got '" + line + "'");
      continue;
    }
    const std::string path = line.substr(0, comma), label = line.substr(comma + 1);
    if (number == 1 && (path == "path" || path == "image" || path == "file" || path == "filename")) continue;
    entries.push_back({fs::path(path).is_absolute() ? path : (base / path).string(), label});
  }
  if (entries.empty()) throw data_error(csv, "the CSV lists no images");
  return entries;
}

// `colour` becomes true if a good image has colour.
std::vector<ClassificationSample> check_entries(const std::vector<Entry>& entries,
                                                const std::vector<std::string>& classes, const CheckOptions& check,
                                                std::vector<std::string>& problems, bool& colour) {
  std::vector<std::string> bad(entries.size());
  std::vector<char> coloured(entries.size(), 0);
  parallel_for(static_cast<int64_t>(entries.size()), check.threads, [&](int64_t i) {
    const auto& e = entries[static_cast<size_t>(i)];
    try {
      const cv::Mat image = read_image(e.image);
      coloured[static_cast<size_t>(i)] = image.channels() >= 3;
      bad[static_cast<size_t>(i)] = check_image_size(image, e.image, check.min_side);
    } catch (const DataError& err) {
      bad[static_cast<size_t>(i)] = err.what();
    }
  });
  std::vector<ClassificationSample> good;
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto it = std::find(classes.begin(), classes.end(), entries[i].label);
    if (bad[i].empty() && it == classes.end())
      bad[i] = entries[i].image + ": class '" + entries[i].label + "' is not a training class";
    if (!bad[i].empty()) {
      problems.push_back(bad[i]);
      continue;
    }
    good.push_back({entries[i].image, static_cast<int64_t>(it - classes.begin())});
    colour = colour || coloured[i];
  }
  return good;
}
}  // namespace

ClassificationDataset load_classification(const std::string& root, const ClassificationLayout& layout) {
  ClassificationDataset out;
  std::vector<std::string> problems, folder_classes;
  std::vector<Entry> train, val;
  std::error_code ec;
  if (fs::is_regular_file(root, ec)) {
    train = read_csv(root, problems);
    for (const auto& e : train) folder_classes.push_back(e.label);
  } else if (fs::is_directory(fs::path(root) / "train", ec) && fs::is_directory(fs::path(root) / "val", ec)) {
    out.explicit_split = true;
    train = scan_image_folder((fs::path(root) / "train").string(), folder_classes, problems);
    std::vector<std::string> val_classes;
    val = scan_image_folder((fs::path(root) / "val").string(), val_classes, problems);
  } else {
    train = scan_image_folder(root, folder_classes, problems);
  }
  out.class_names = sorted_names(folder_classes);

  auto good_train = check_entries(train, out.class_names, layout.check, problems, out.colour);
  auto good_val = check_entries(val, out.class_names, layout.check, problems, out.colour);
  settle_problems(root, problems, layout.check, out.skipped);
  if (good_train.empty()) throw data_error(root, "no usable images left");

  if (out.explicit_split) {
    out.train = std::move(good_train);
    out.val = std::move(good_val);
    return out;
  }
  // Stratified: each class is split on its own, so small classes keep val examples.
  std::map<int64_t, std::vector<ClassificationSample>> by_class;
  for (const auto& s : good_train) by_class[s.label].push_back(s);
  for (const auto& [label, items] : by_class) {
    SplitOptions split = layout.split;
    split.seed = layout.split.seed * 1000003ULL + static_cast<uint64_t>(label);
    apply_split(items, split_indices(static_cast<int64_t>(items.size()), split), out.train, out.val);
  }
  return out;
}

}  // namespace skipzoo::data
