#pragma once
/// @file
/// Dataset layouts on disk, checked up front: every problem is collected, then either reported
/// together (strict, the default) or warned about and the bad items dropped (skip_bad).
///
/// Segmentation:   ROOT/images/<stem>.<ext> with ROOT/masks/<stem><mask_suffix>.<ext>
///                 or ROOT/train/{images,masks} and ROOT/val/{images,masks} (explicit split;
///                 val/ may be empty; ROOT/train alone is split by fraction)
/// Classification: ROOT/<class>/**.<ext> (ImageFolder, classes = sorted folder names),
///                 or ROOT/train/<class>, ROOT/val/<class>, or a CSV file of path,label lines.
/// Without an explicit split, val gets a seeded, deterministic fraction.
#include <c10/util/Optional.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "skipzoo/data/mask.h"

namespace skipzoo::data {

/// One segmentation item: the paths of an image and its mask.
struct SegmentationSample {
  std::string image, mask;  ///< file paths
};

/// One classification item.
struct ClassificationSample {
  std::string image;   ///< file path
  int64_t label = 0;   ///< index into the dataset's class_names
};

/// How the up-front check treats bad items.
struct CheckOptions {
  bool skip_bad = false;   ///< false: one DataError listing every problem; true: warn and drop
  int64_t min_side = 2;    ///< images narrower or lower than this (pixels) are bad (0 or 1 pixel)
  int threads = 0;         ///< decoding threads for the check; 0: all cores
  std::function<void(const std::string&)> warn;  ///< skip_bad warnings; default: "warning: skipping ..." on stderr
};

/// The train/val split used when the dataset has no explicit one.
struct SplitOptions {
  double val_fraction = 0.2;  ///< in [0, 1); used only without explicit train/ and val/ folders
  uint64_t seed = 0;          ///< the split is a function of (item count, val_fraction, seed)
};

/// Options of load_segmentation().
struct SegmentationLayout {
  std::string mask_suffix;               ///< e.g. "_mask": images/a.png <-> masks/a_mask.png
  c10::optional<MaskMapping> mapping;    ///< none: scan the masks (see MaskMapping::from_scan)
  int64_t max_scan_classes = 32;         ///< the scan's limit on distinct mask values
  int ignore_value = 255;                ///< raw value the scan treats as "ignore"
  SplitOptions split;                    ///< used without ROOT/train and ROOT/val
  CheckOptions check;                    ///< what to do with bad items
};

/// A checked segmentation dataset.
struct SegmentationDataset {
  std::vector<SegmentationSample> train, val;  ///< good pairs only
  MaskMapping mapping;                         ///< given, or found by the scan
  bool explicit_split = false;                 ///< ROOT/train and ROOT/val existed
  std::vector<std::string> skipped;  ///< the problems of dropped items (skip_bad)
  /// What the user should know that is not an error, one sentence each: classes the scan made of
  /// values that cover under 0.1% of the labelled pixels (stray values of lossy JPEG masks or
  /// anti-aliased edges would become classes silently otherwise).
  std::vector<std::string> warnings;
  /// Some kept image (train or val) has colour (3 or 4 channels); false: every one is gray. The
  /// apps read the whole set with one channel count decided from this.
  bool colour = false;
};

/// Options of load_classification().
struct ClassificationLayout {
  SplitOptions split;  ///< used without ROOT/train and ROOT/val
  CheckOptions check;  ///< what to do with bad items
};

/// A checked classification dataset.
struct ClassificationDataset {
  std::vector<ClassificationSample> train, val;  ///< good items only
  std::vector<std::string> class_names;          ///< sorted; all-numeric names by value ("2" before "10")
  bool explicit_split = false;                   ///< ROOT/train and ROOT/val existed
  std::vector<std::string> skipped;              ///< the problems of dropped items (skip_bad)
  /// Some kept image (train or val) has colour (3 or 4 channels); false: every one is gray.
  bool colour = false;
};

/// Decodes every image and mask once: corrupt/truncated/empty/non-image files, missing masks,
/// size mismatches, masks values outside the mapping and images below min_side are problems.
/// Throws DataError for missing or empty folders, for the problems unless check.skip_bad, for
/// gray and colour masks mixed without a mapping, when the scan finds too many values, and when
/// no usable pair is left; std::invalid_argument for a val_fraction outside [0, 1).
SegmentationDataset load_segmentation(const std::string& root, const SegmentationLayout& layout = {});
/// `root` is a folder (ImageFolder) or a .csv file of "path,label" lines (paths relative to the
/// CSV's folder; a first line whose path reads path, image, file or filename is a header).
/// Without an explicit split each class is split on its own (stratified). Throws as
/// load_segmentation() does, for images alone (an unopenable or empty CSV is a DataError too).
ClassificationDataset load_classification(const std::string& root, const ClassificationLayout& layout = {});

/// Sorted image files under `dir` (recursive, hidden files and folders skipped). Other files are
/// appended to `problems`. Throws DataError when `dir` is not a folder or cannot be listed.
std::vector<std::string> list_images(const std::string& dir, std::vector<std::string>& problems);
/// Pairs DIR/images with DIR/masks by relative path and stem (plus mask_suffix); unpaired or
/// ambiguous files are appended to `problems`. Throws DataError when images/ or masks/ is
/// missing, and when there are no images unless allow_empty.
std::vector<SegmentationSample> pair_segmentation_files(const std::string& dir, const std::string& mask_suffix,
                                                        std::vector<std::string>& problems, bool allow_empty = false);

/// Whether `root` looks like a segmentation dataset (has images/ or train/images/).
bool is_segmentation_layout(const std::string& root);

/// Deterministic train/val split of n items: the indices of the val items, sorted. About
/// val_fraction * n of them (rounded), at least 1 and at most n - 1 when val_fraction > 0 and
/// n >= 2. Throws std::invalid_argument unless 0 <= val_fraction < 1.
std::vector<int64_t> split_indices(int64_t n, const SplitOptions& split);

}  // namespace skipzoo::data
