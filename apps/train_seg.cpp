// `skipzoo train seg`: segmentation on images of any size by patch sampling, validated on the
// full-size validation images through the sliding-window tiler. A thin configuration of the
// shared training engine.
#include <skipzoo/data.h>
#include <skipzoo/models/registry.h>
#include <skipzoo/models/weights.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli.h"
#include "engine/run_files.h"
#include "engine/tasks.h"
#include "train_flags.h"
#include "train_run.h"

namespace skipzoo::app {

namespace fs = std::filesystem;

namespace {

struct SegFlags {
  int64_t patch = 256, patches_per_image = 1;
  double fg_fraction = 1.0 / 3.0;
  std::string pad = "constant";
  int64_t tile = 0;  // 0: the patch size
  double overlap = 0.5;
  bool val_tta = false;
  double dice_weight = 1.0;
  std::vector<double> class_weights;
  int64_t overlays = 4;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SegFlags, patch, patches_per_image, fg_fraction, pad, tile, overlap,
                                                val_tta, dice_weight, class_weights, overlays)

// Class names: dataset.json's when it has one per class (make-shapes, fashion-mosaic writes it).
std::vector<std::string> segmentation_class_names(const std::string& root, const data::MaskMapping& mapping) {
  std::vector<std::string> names;
  std::error_code ec;
  const auto meta = fs::path(root) / "dataset.json";
  if (fs::exists(meta, ec)) {
    auto j = read_json(meta.string());
    if (j.contains("classes") && j["classes"].is_array() &&
        static_cast<int64_t>(j["classes"].size()) == mapping.num_classes()) {
      for (const auto& n : j["classes"]) names.push_back(n.get<std::string>());
      return names;
    }
  }
  for (int64_t c = 0; c < mapping.num_classes(); ++c) names.push_back("class_" + std::to_string(c));
  return names;
}

void run(TrainFlags t, DataFlags d, SegFlags s, const CLI::App* cmd) {
  auto resumed = open_resume(t, "segmentation", cmd);
  if (resumed) {
    d = resumed->config.at("data").get<DataFlags>();
    s = resumed->config.at("seg").get<SegFlags>();
  }
  require_out_and_data(t, d);
  if (s.tile <= 0) s.tile = s.patch;

  auto dataset = data::load_segmentation(d.data, segmentation_layout(d));
  for (const auto& problem : dataset.skipped) std::cerr << "skipzoo: warning: skipped " << problem << "\n";
  if (dataset.train.empty()) throw UsageError("no training images in '" + d.data + "'");
  const auto& mapping = dataset.mapping;
  const int64_t classes = mapping.num_classes();
  if (t.classes > 0 && t.classes != classes) {
    throw UsageError("--classes " + std::to_string(t.classes) + " but the masks map to " + std::to_string(classes) +
                     " classes (" + mapping.describe() + ")");
  }
  if (!s.class_weights.empty() && static_cast<int64_t>(s.class_weights.size()) != classes) {
    throw UsageError("--class-weights needs " + std::to_string(classes) + " values");
  }
  std::cout << "data: " << dataset.train.size() << " training and " << dataset.val.size() << " validation images, "
            << mapping.describe() << "\n";

  data::SegmentationSampling sampling;
  sampling.read = read_options(t.channels);
  sampling.patch.size = s.patch;
  sampling.patch.patches_per_image = s.patches_per_image;
  sampling.patch.foreground_fraction = s.fg_fraction;
  sampling.patch.pad = s.pad == "reflect" ? data::PadMode::Reflect : data::PadMode::Constant;
  sampling.augment = parse_augment(t.augment, data::AugmentOptions::segmentation());
  sampling.cache_bytes = t.cache_mb * (int64_t{1} << 20);
  const auto input = resolve_input(t.norm, image_paths(dataset.train), sampling.read);
  const int64_t channels = input.channels;
  sampling.norm = input.norm;
  auto source = std::make_shared<data::SegmentationPatches>(dataset.train, mapping, sampling);

  auto model = make_model(t, classes, channels, "segmentation");
  LoaderSource batches(make_loader(source, t));

  nlohmann::json metadata = {{"class_names", segmentation_class_names(d.data, mapping)},
                             {"normalization", normalization_json(sampling.norm, channels)},
                             {"patch", s.patch},
                             {"tile", s.tile},
                             {"overlap", s.overlap},
                             {"channels", t.channels},
                             {"mask_mapping", nlohmann::json::parse(mapping.to_json())}};
  SegTaskOptions task_options;
  task_options.val = dataset.val;
  task_options.mapping = mapping;
  task_options.classes = classes;
  task_options.inference.tile.tile = s.tile;
  task_options.inference.tile.overlap = s.overlap;
  task_options.inference.tile.flip_tta = s.val_tta;
  task_options.inference.norm = sampling.norm;
  task_options.inference.read = sampling.read;
  task_options.loss.dice_weight = s.dice_weight;
  if (!s.class_weights.empty()) task_options.loss.class_weights = torch::tensor(s.class_weights, torch::kFloat);
  task_options.overlays = s.overlays;
  task_options.metadata = metadata;
  SegTask task(task_options);

  nlohmann::json config = {{"task", "segmentation"}, {"model", model_json(model)}, {"data", d},
                           {"train", t},             {"seg", s},                  {"metadata", metadata}};
  train_and_export(model, batches, task, t, config, resumed.get());
}

}  // namespace

void add_train_seg_command(CLI::App& train) {
  auto* cmd = train.add_subcommand("seg", "train a segmentation model on images of any size by patch sampling");
  auto t = std::make_shared<TrainFlags>();
  t->model = "unet";
  auto d = add_data_flags(cmd);
  add_train_flags(cmd, *t);
  auto s = std::make_shared<SegFlags>();
  cmd->add_option("--patch", s->patch, "training patch size (square; smaller images are padded, never resized)")
      ->capture_default_str()
      ->check(CLI::Range(8, 8192));
  cmd->add_option("--patches-per-image", s->patches_per_image, "patches per image per epoch")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  cmd->add_option("--fg-fraction", s->fg_fraction, "share of each batch centred on foreground (nnU-Net: 0.33)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--pad", s->pad, "padding of images smaller than the patch: constant or reflect (masks: ignore)")
      ->capture_default_str()
      ->check(CLI::IsMember({"constant", "reflect"}));
  cmd->add_option("--tile", s->tile, "validation tile size (default: the patch size)")->check(CLI::Range(8, 8192));
  cmd->add_option("--overlap", s->overlap, "validation tile overlap")->capture_default_str()->check(CLI::Range(0.0, 0.95));
  cmd->add_flag("--val-tta", s->val_tta, "validate with flip test-time augmentation");
  cmd->add_option("--dice-weight", s->dice_weight, "weight of the soft Dice term (0: cross-entropy only)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--class-weights", s->class_weights, "cross-entropy class weights, one per class")->delimiter(',');
  cmd->add_option("--overlays", s->overlays, "validation images saved as image | truth | prediction per validation")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  relax_for_resume(cmd);
  on_run(cmd, [t, d, s, cmd] { run(*t, *d, *s, cmd); });
}

}  // namespace skipzoo::app
