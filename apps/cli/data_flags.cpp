#include "cli/data_flags.h"

namespace skipzoo::app {

std::shared_ptr<DataFlags> add_data_flags(CLI::App* cmd) {
  auto f = std::make_shared<DataFlags>();
  cmd->add_option("--data", f->data,
                  "dataset folder: images/ + masks/ (segmentation), <class>/ folders or a .csv (classification); "
                  "train/ and val/ inside give an explicit split")
      ->required();
  cmd->add_option("--mask-suffix", f->mask_suffix, "suffix of mask file stems, e.g. _mask for a.png -> a_mask.png")
      ->capture_default_str();
  cmd->add_option("--mask-values", f->mask_values,
                  "mask value -> class mapping: auto (scan the masks), a list such as 0,255, identity:K, voc, "
                  "or colours #000000,#ff0000")
      ->capture_default_str();
  cmd->add_option("--ignore-value", f->ignore_value, "raw mask value that means 'ignore this pixel' (-1: none)")
      ->capture_default_str();
  cmd->add_option("--max-classes", f->max_classes, "--mask-values auto: more distinct values than this is an error")
      ->capture_default_str()
      ->check(CLI::Range(1, 254));
  cmd->add_flag("--skip-bad", f->skip_bad, "warn about bad files and go on without them (default: stop and list them all)");
  cmd->add_option("--val-fraction", f->val_fraction, "validation share when the dataset has no train/ and val/ folders")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.95));
  cmd->add_option("--split-seed", f->split_seed, "seed of the train/val split")->capture_default_str();
  return f;
}

data::SegmentationLayout segmentation_layout(const DataFlags& f) {
  data::SegmentationLayout layout;
  layout.mask_suffix = f.mask_suffix;
  layout.ignore_value = f.ignore_value;
  layout.max_scan_classes = f.max_classes;
  if (f.mask_values != "auto") {
    try {
      layout.mapping = data::MaskMapping::parse(f.mask_values, f.ignore_value);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--mask-values: ") + e.what());
    }
  }
  layout.split = {f.val_fraction, f.split_seed};
  layout.check.skip_bad = f.skip_bad;
  return layout;
}

data::ClassificationLayout classification_layout(const DataFlags& f) {
  data::ClassificationLayout layout;
  layout.split = {f.val_fraction, f.split_seed};
  layout.check.skip_bad = f.skip_bad;
  return layout;
}

}  // namespace skipzoo::app
