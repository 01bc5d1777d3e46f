#include "train/train_flags.h"

#include <map>
#include <sstream>

#include "engine/progress.h"

namespace skipzoo::app {

namespace {
template <typename Enum>
CLI::CheckedTransformer choices(std::initializer_list<Enum> values, std::string (*name)(Enum)) {
  std::map<std::string, Enum> map;
  for (Enum v : values) map[name(v)] = v;
  return CLI::CheckedTransformer(map);
}
}  // namespace

void add_train_flags(CLI::App* cmd, RunFlags& r, TrainOptions& o) {
  cmd->add_option("--out", r.out, "run directory (config, checkpoints, logs, plots, model.ts)");
  cmd->add_option("--resume", r.resume, "continue the run in this directory from its last.ckpt (other flags are taken from the run)");
  cmd->add_option("--model", r.model, "model name (see `skipzoo models`)")->capture_default_str();
  cmd->add_option("--classes", r.classes, "number of classes (default: from the dataset)");
  cmd->add_option("--options", r.options, "model options as JSON, e.g. '{\"depth\": 3}'")->capture_default_str();
  cmd->add_option("--weights", r.weights, "initial weights: a torch.save(dict(state_dict)) file or a TorchScript archive");
  cmd->add_flag("--skip-head", r.skip_head, "with --weights: keep the model's own classifier/segmentation head");
  auto* epochs = cmd->add_option("--epochs", o.epochs, "training epochs")->capture_default_str()->check(CLI::Range(1, 1000000));
  auto* iters = cmd->add_option("--iters", o.iters, "train this many steps instead of --epochs")
                    ->excludes(epochs)
                    ->check(CLI::Range(1, 1000000000));
  const CLI::Validator duration(
      [](std::string& text) {
        try {
          parse_duration(text);
        } catch (const std::invalid_argument& e) {
          return std::string(e.what());
        }
        return std::string();
      },
      "DURATION");
  cmd->add_option_function<std::string>(
         "--time", [&o](const std::string& text) { o.time_budget = parse_duration(text); },
         "train for this wall-clock time instead, e.g. 90s, 10m, 1h30m (validation and export included; the "
         "learning-rate schedule is fitted to the steps that fit)")
      ->check(duration)
      ->excludes(epochs)
      ->excludes(iters);
  cmd->add_option("--batch", r.batch, "batch size (data-parallel: the global batch, shared by the ranks)")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--optimizer", o.optimizer.kind, "adamw or sgd (Nesterov momentum)")
      ->transform(choices({OptimizerKind::AdamW, OptimizerKind::SGD}, optimizer_name))
      ->default_str(optimizer_name(o.optimizer.kind));
  cmd->add_option("--lr", o.optimizer.lr, "peak learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--weight-decay", o.optimizer.weight_decay, "weight decay (conv/linear weights only, see --decay-all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--momentum", o.optimizer.momentum, "SGD momentum")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--decay-all", o.optimizer.decay_all, "also apply weight decay to norm parameters and biases");
  cmd->add_option("--schedule", o.schedule.kind, "learning-rate schedule: cosine, poly or constant")
      ->transform(choices({ScheduleKind::Cosine, ScheduleKind::Poly, ScheduleKind::Constant}, schedule_name))
      ->default_str(schedule_name(o.schedule.kind));
  cmd->add_option("--warmup", o.schedule.warmup_steps, "linear warm-up steps")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--clip-grad", o.clip_grad_norm, "clip the gradient norm to this (0: off)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--ema", o.weight_average,
                  "validate, keep and export an exponential moving average of the weights with this decay per step "
                  "(e.g. 0.99; lower in the first steps: min(decay, (1 + step) / (10 + step))); 0: the weights themselves")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.99999));
  cmd->add_option("--seed", r.seed, "seed for initialisation and sampling (same seed, same run)")->capture_default_str();
  cmd->add_option("--device", o.device, "cpu or cuda")->capture_default_str()->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_flag("--no-amp{false}", o.amp,
                "on CUDA, train in float32 instead of bfloat16 autocast (CPU never uses autocast)");
  cmd->add_option("--layout", o.layout,
                  "memory layout of weights and batches: auto (time both on this machine, keep the faster; cached "
                  "per CPU and model), channels-last or contiguous")
      ->transform(choices({Layout::Auto, Layout::ChannelsLast, Layout::Contiguous}, layout_name))
      ->default_str(layout_name(o.layout));
  cmd->add_option("--val-every", o.val_every,
                  "validate every N epochs (and after the last); 0: auto, about 10 times a run and at most ~10% of "
                  "its time")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1000000}));
  cmd->add_option("--checkpoint-every", o.checkpoint_every,
                  "seconds between last.ckpt writes at epoch ends (also written at each validation, at the end and "
                  "on Ctrl-C)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--workers", r.workers, "data loader threads")->capture_default_str()->check(CLI::Range(0, 256));
  cmd->add_option("--cache-mb", r.cache_mb, "keep decoded training images in memory up to this many MB")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--channels", r.channels,
                  "input channels: auto (RGB if any image has colour, else gray), gray or rgb")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "gray", "rgb"}));
  cmd->add_option("--norm", r.norm,
                  "input normalisation: auto (the training set's channel mean/std), imagenet, unit ([0,1]), "
                  "symmetric ([-1,1]) or MEAN,.../STD,...")
      ->capture_default_str();
  cmd->add_option("--augment", r.augment,
                  "augmentation: default, light (flips and quarter turns), off, full, or JSON overriding the defaults")
      ->capture_default_str();
  cmd->add_flag("--no-export", r.no_export, "do not write model.ts at the end");
  auto& d = o.distributed;
  cmd->add_option("--nproc", d.nproc,
                  "data-parallel: start N ranks on this machine (each with cores/N --threads); torchrun, Slurm and "
                  "mpirun launch ranks through their variables instead (docs/distributed.md)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--backend", d.backend, "data-parallel collectives: auto (gloo) or gloo; nccl comes with CUDA builds of LibTorch "
                  "and is refused by this one")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "gloo", "nccl"}));
  cmd->add_option("--dist-timeout", d.timeout_s,
                  "seconds: data-parallel ranks must join, and every collective finish, within this; a lost rank "
                  "ends the others' run after at most this long")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 86400.0));
  cmd->add_flag("--sync-bn", d.sync_bn, "data-parallel: BatchNorm statistics over the global batch, not each rank's share");
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
  if (spec == "light") return data::AugmentOptions::light();
  if (spec == "full") return data::AugmentOptions::full();
  try {
    return data::AugmentOptions::from_json(spec, defaults);
  } catch (const std::exception& e) {
    throw UsageError("--augment: " + std::string(e.what()));
  }
}

}  // namespace skipzoo::app
