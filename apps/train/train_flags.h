#pragma once
// The flags every `skipzoo train <task>` shares. Engine settings bind straight to the engine's
// own TrainOptions (their defaults live there); RunFlags holds the rest: where the run goes, the
// model, and the input pipeline. config.json stores both as JSON, and --resume rebuilds the run
// from it.
#include <nlohmann/json.hpp>
#include <skipzoo/data/augment.h>
#include <skipzoo/data/image.h>

#include <string>

#include "cli/cli.h"
#include "cli/data_flags.h"
#include "engine/trainer.h"

namespace skipzoo::app {

struct RunFlags {
  std::string out, resume;
  std::string model;
  int64_t classes = -1;             // -1: from the dataset
  std::string options = "{}";       // model options (JSON)
  std::string weights;              // initial weights (state dict or TorchScript)
  bool skip_head = false;
  int64_t batch = 8;
  uint64_t seed = 0;
  int workers = 2;
  int64_t cache_mb = 1024;
  std::string channels = "auto";    // auto (colour if any image has colour), gray, rgb
  std::string norm = "auto";        // auto (dataset statistics), imagenet, unit, symmetric, or "m,m,m/s,s,s"
  std::string augment = "default";  // default, light, off, full, or JSON overriding the defaults
  bool no_export = false;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(RunFlags, out, model, classes, options, weights, skip_head, batch, seed,
                                                workers, cache_mb, channels, norm, augment, no_export)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DataFlags, data, mask_suffix, mask_values, ignore_value, max_classes,
                                                skip_bad, val_fraction, split_seed)

// Adds the shared flags to `cmd`, bound to `run` and `train` (their current values are the
// task's defaults, shown by --help).
void add_train_flags(CLI::App* cmd, RunFlags& run, TrainOptions& train);

// "auto" needs the dataset: pass the estimate; the rest parse directly.
data::Normalization parse_normalization(const std::string& spec, const data::Normalization& estimate);
data::AugmentOptions parse_augment(const std::string& spec, const data::AugmentOptions& defaults);

}  // namespace skipzoo::app
