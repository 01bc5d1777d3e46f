#include "train_flags.h"

#include <sstream>

namespace skipzoo::app {

void add_train_flags(CLI::App* cmd, TrainFlags& f) {
  cmd->add_option("--out", f.out, "run directory (config, checkpoints, logs, plots, model.ts)");
  cmd->add_option("--resume", f.resume, "continue the run in this directory from its last.ckpt (other flags are taken from the run)");
  cmd->add_option("--model", f.model, "model name (see `skipzoo models`)")->capture_default_str();
  cmd->add_option("--classes", f.classes, "number of classes (default: from the dataset)");
  cmd->add_option("--options", f.options, "model options as JSON, e.g. '{\"depth\": 3}'")->capture_default_str();
  cmd->add_option("--weights", f.weights, "initial weights: a torch.save(dict(state_dict)) file or a TorchScript archive");
  cmd->add_flag("--skip-head", f.skip_head, "with --weights: keep the model's own classifier/segmentation head");
  auto* epochs = cmd->add_option("--epochs", f.epochs, "training epochs")->capture_default_str()->check(CLI::Range(1, 1000000));
  cmd->add_option("--iters", f.iters, "train this many steps instead of --epochs")->excludes(epochs)->check(CLI::Range(1, 1000000000));
  cmd->add_option("--batch", f.batch, "batch size")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--optimizer", f.optimizer, "adamw or sgd (Nesterov momentum)")
      ->capture_default_str()
      ->check(CLI::IsMember({"adamw", "sgd"}));
  cmd->add_option("--lr", f.lr, "peak learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--weight-decay", f.weight_decay, "weight decay (conv/linear weights only, see --decay-all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--momentum", f.momentum, "SGD momentum")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--schedule", f.schedule, "learning-rate schedule: cosine, poly or constant")
      ->capture_default_str()
      ->check(CLI::IsMember({"cosine", "poly", "constant"}));
  cmd->add_option("--warmup", f.warmup, "linear warm-up steps")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--clip-grad", f.clip_grad, "clip the gradient norm to this (0: off)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--decay-all", f.decay_all, "also apply weight decay to norm parameters and biases");
  cmd->add_option("--seed", f.seed, "seed for initialisation and sampling (same seed, same run)")->capture_default_str();
  cmd->add_option("--device", f.device, "cpu or cuda")->capture_default_str()->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_flag("--no-amp", f.no_amp, "on CUDA, train in float32 instead of bfloat16 autocast (CPU never uses autocast)");
  cmd->add_flag("--contiguous", f.contiguous,
                "keep weights and batches in NCHW layout instead of channels-last (channels-last trains 1.06-1.26x "
                "faster on the CPU; default: off)");
  cmd->add_option("--val-every", f.val_every, "validate every N epochs (and after the last)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--workers", f.workers, "data loader threads")->capture_default_str()->check(CLI::Range(0, 256));
  cmd->add_option("--cache-mb", f.cache_mb, "keep decoded training images in memory up to this many MB")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--channels", f.channels, "input channels: auto (as stored), gray or rgb")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "gray", "rgb"}));
  cmd->add_option("--norm", f.norm,
                  "input normalisation: auto (the training set's channel mean/std), imagenet, unit ([0,1]), "
                  "symmetric ([-1,1]) or MEAN,.../STD,...")
      ->capture_default_str();
  cmd->add_option("--augment", f.augment, "augmentation: default, off, full, or JSON overriding the defaults")
      ->capture_default_str();
  cmd->add_flag("--no-export", f.no_export, "do not write model.ts at the end");
}

TrainOptions train_options(const TrainFlags& f) {
  TrainOptions o;
  o.epochs = f.epochs;
  o.iters = f.iters;
  o.val_every = f.val_every;
  o.optimizer.name = f.optimizer;
  o.optimizer.lr = f.lr;
  o.optimizer.weight_decay = f.weight_decay;
  o.optimizer.momentum = f.momentum;
  o.optimizer.decay_all = f.decay_all;
  o.schedule.name = f.schedule;
  o.schedule.warmup_steps = f.warmup;
  o.clip_grad_norm = f.clip_grad;
  o.device = f.device;
  o.amp = !f.no_amp;
  o.channels_last = !f.contiguous;
  o.export_model = !f.no_export;
  return o;
}

data::ImageReadOptions read_options(const std::string& channels) {
  data::ImageReadOptions r;
  if (channels == "gray") r.channels = data::Channels::Gray;
  else if (channels == "rgb") r.channels = data::Channels::RGB;
  else if (channels != "auto") throw UsageError("--channels must be auto, gray or rgb, not '" + channels + "'");
  return r;
}

namespace {
std::vector<float> floats(const std::string& text, const std::string& spec) {
  std::vector<float> out;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) {
    try {
      size_t used = 0;
      out.push_back(std::stof(part, &used));
      if (used != part.size()) throw std::invalid_argument(part);
    } catch (const std::exception&) {
      throw UsageError("--norm '" + spec + "': '" + part + "' is not a number");
    }
  }
  return out;
}
}  // namespace

data::Normalization parse_normalization(const std::string& spec, const data::Normalization& estimate) {
  if (spec == "auto") return estimate;
  if (spec == "imagenet") return data::Normalization::imagenet();
  if (spec == "unit") return data::Normalization::unit();
  if (spec == "symmetric") return data::Normalization::symmetric();
  const auto slash = spec.find('/');
  if (slash == std::string::npos) {
    throw UsageError("--norm must be auto, imagenet, unit, symmetric or MEAN,.../STD,..., not '" + spec + "'");
  }
  return {floats(spec.substr(0, slash), spec), floats(spec.substr(slash + 1), spec)};
}

data::AugmentOptions parse_augment(const std::string& spec, const data::AugmentOptions& defaults) {
  if (spec == "default") return defaults;
  if (spec == "off") return data::AugmentOptions::off();
  if (spec == "full") return data::AugmentOptions::full();
  try {
    return data::AugmentOptions::from_json(spec, defaults);
  } catch (const std::exception& e) {
    throw UsageError("--augment: " + std::string(e.what()));
  }
}

}  // namespace skipzoo::app
