#pragma once
// Flags shared by `skipzoo train seg` and `skipzoo train cls`, and their JSON form: the run's
// config.json stores every resolved value, and --resume rebuilds the run from it.
#include <nlohmann/json.hpp>
#include <skipzoo/data/augment.h>
#include <skipzoo/data/image.h>

#include <memory>
#include <string>

#include "cli.h"
#include "data_flags.h"
#include "engine/trainer.h"

namespace skipzoo::app {

struct TrainFlags {
  std::string out, resume;
  std::string model;
  int64_t classes = -1;        // -1: from the dataset
  std::string options = "{}";  // model options (JSON)
  std::string weights;         // initial weights (state dict or TorchScript)
  bool skip_head = false;
  int64_t epochs = 30, iters = 0, batch = 8;
  std::string optimizer = "adamw";
  double lr = 1e-3, weight_decay = 1e-4, momentum = 0.9;
  std::string schedule = "cosine";
  int64_t warmup = 0;          // steps
  double clip_grad = 0;
  bool decay_all = false;
  uint64_t seed = 0;
  std::string device = "cpu";
  bool no_amp = false;
  bool contiguous = false;  // true: NCHW weights and batches instead of channels-last
  int64_t val_every = 1;
  int workers = 2;
  int64_t cache_mb = 1024;
  std::string channels = "auto";  // auto (as stored), gray, rgb
  std::string norm = "auto";      // auto (dataset statistics), imagenet, unit, symmetric, or "m,m,m/s,s,s"
  std::string augment = "default";  // default, off, full, or JSON overriding the defaults
  bool no_export = false;
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TrainFlags, out, model, classes, options, weights, skip_head, epochs,
                                                iters, batch, optimizer, lr, weight_decay, momentum, schedule, warmup,
                                                clip_grad, decay_all, seed, device, no_amp, contiguous, val_every, workers, cache_mb,
                                                channels, norm, augment, no_export)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DataFlags, data, mask_suffix, mask_values, ignore_value, max_classes,
                                                skip_bad, val_fraction, split_seed)

// Adds the shared flags to `cmd` with task defaults already in `flags`.
void add_train_flags(CLI::App* cmd, TrainFlags& flags);

TrainOptions train_options(const TrainFlags& f);
data::ImageReadOptions read_options(const std::string& channels);
// "auto" needs the dataset: pass the estimate; the rest parse directly.
data::Normalization parse_normalization(const std::string& spec, const data::Normalization& estimate);
data::AugmentOptions parse_augment(const std::string& spec, const data::AugmentOptions& defaults);

}  // namespace skipzoo::app
