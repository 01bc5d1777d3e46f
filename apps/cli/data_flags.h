#pragma once
// Dataset flags shared by the commands that read a dataset folder (data check, bench loader,
// and the training apps): layout, mask mapping, strictness and split.
#include <skipzoo/data/layout.h>

#include <memory>
#include <string>

#include "cli/cli.h"

namespace skipzoo::app {

struct DataFlags {
  std::string data;
  std::string mask_suffix;
  std::string mask_values = "auto";
  int ignore_value = 255;
  int64_t max_classes = 32;
  bool skip_bad = false;
  double val_fraction = 0.2;
  uint64_t split_seed = 0;
};

// Adds --data (required), --mask-suffix, --mask-values, --ignore-value, --max-classes,
// --skip-bad, --val-fraction and --split-seed to `cmd`; the values land in the returned flags.
std::shared_ptr<DataFlags> add_data_flags(CLI::App* cmd);

data::SegmentationLayout segmentation_layout(const DataFlags& flags);
data::ClassificationLayout classification_layout(const DataFlags& flags);

}  // namespace skipzoo::app
