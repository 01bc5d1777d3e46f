#pragma once
// Dataset layouts on disk, checked up front: every problem is collected, then either reported
// together (strict, the default) or warned about and the bad items dropped (skip_bad).
//
// Segmentation:   ROOT/images/<stem>.<ext> with ROOT/masks/<stem><mask_suffix>.<ext>
//                 or ROOT/train/{images,masks} and ROOT/val/{images,masks} (explicit split;
//                 val/ may be empty; ROOT/train alone is split by fraction)
// Classification: ROOT/<class>/**.<ext> (ImageFolder, classes = sorted folder names),
//                 or ROOT/train/<class>, ROOT/val/<class>, or a CSV file of path,label lines.
// Without an explicit split, val gets a seeded, deterministic fraction.
#include <c10/util/Optional.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "skipzoo/data/mask.h"

namespace skipzoo::data {

struct SegmentationSample {
  std::string image, mask;
};

struct ClassificationSample {
  std::string image;
  int64_t label = 0;
};

struct CheckOptions {
  bool skip_bad = false;   // false: one DataError listing every problem; true: warn and drop
  int64_t min_side = 2;    // images narrower or lower than this are bad (0 or 1 pixel)
  int threads = 0;         // decoding threads for the check; 0: all cores
  std::function<void(const std::string&)> warn;  // skip_bad warnings; default: stderr
};

struct SplitOptions {
  double val_fraction = 0.2;  // used only without explicit train/ and val/ folders
  uint64_t seed = 0;
};

struct SegmentationLayout {
  std::string mask_suffix;               // e.g. "_mask": images/a.png <-> masks/a_mask.png
  c10::optional<MaskMapping> mapping;    // none: scan the masks (see MaskMapping::from_scan)
  int64_t max_scan_classes = 32;
  int ignore_value = 255;                // raw value the scan treats as "ignore"
  SplitOptions split;
  CheckOptions check;
};

struct SegmentationDataset {
  std::vector<SegmentationSample> train, val;
  MaskMapping mapping;
  bool explicit_split = false;
  std::vector<std::string> skipped;  // the problems of dropped items (skip_bad)
};

struct ClassificationLayout {
  SplitOptions split;
  CheckOptions check;
};

struct ClassificationDataset {
  std::vector<ClassificationSample> train, val;
  std::vector<std::string> class_names;
  bool explicit_split = false;
  std::vector<std::string> skipped;
};

// Decodes every image and mask once: corrupt/truncated/empty/non-image files, missing masks,
// size mismatches, masks values outside the mapping and images below min_side are problems.
// Missing or empty folders are always a DataError.
SegmentationDataset load_segmentation(const std::string& root, const SegmentationLayout& layout = {});
// `root` is a folder (ImageFolder) or a .csv file (paths relative to the CSV's folder).
ClassificationDataset load_classification(const std::string& root, const ClassificationLayout& layout = {});

// Sorted image files under `dir` (recursive, hidden files skipped). Other files are problems.
std::vector<std::string> list_images(const std::string& dir, std::vector<std::string>& problems);
// Pairs DIR/images with DIR/masks by relative path and stem; unpaired files are problems.
// No images is a DataError unless allow_empty.
std::vector<SegmentationSample> pair_segmentation_files(const std::string& dir, const std::string& mask_suffix,
                                                        std::vector<std::string>& problems, bool allow_empty = false);

// Whether `root` looks like a segmentation dataset (has images/ or train/images/).
bool is_segmentation_layout(const std::string& root);

// Deterministic train/val split of n items: the indices of the val items, sorted.
std::vector<int64_t> split_indices(int64_t n, const SplitOptions& split);

}  // namespace skipzoo::data
