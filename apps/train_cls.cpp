// `skipzoo train cls`: classification on images of any size, trained on random patches (or
// random-resized crops) and validated through an evaluation view. A thin configuration of the
// shared training engine.
#include <skipzoo/data.h>

#include <iostream>

#include "cli.h"
#include "engine/tasks.h"
#include "train_flags.h"
#include "train_run.h"

namespace skipzoo::app {

namespace {

struct ClsFlags {
  int64_t patch = 32;
  std::string crop = "patch";   // patch (random window, native scale) or rrc (random resized crop)
  int64_t padding = 0;          // patch mode: pixels added around the image first (CIFAR-style pad-4 crops)
  double scale_min = 0.08;      // rrc: smallest area share
  std::string eval_view = "auto";
  int64_t resize = 0;           // resize view: short side (0: patch * 8 / 7)
  int64_t eval_crops = 1;
  double label_smoothing = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ClsFlags, patch, crop, padding, scale_min, eval_view, resize, eval_crops,
                                                label_smoothing)

// "auto": the whole image after native-scale patch training (same scale, global pooling),
// resize-short-side + centre crop after random-resized crops (torchvision's convention).
data::EvalTransform eval_transform(const ClsFlags& c) {
  data::EvalTransform t;
  const std::string view = c.eval_view == "auto" ? (c.crop == "rrc" ? "resize" : "whole") : c.eval_view;
  t.view = view == "whole" ? data::EvalView::Whole
                           : view == "center" ? data::EvalView::CenterCrop : data::EvalView::ResizeShortSide;
  t.crop = c.patch;
  t.resize = c.resize > 0 ? c.resize : c.patch * 8 / 7;
  return t;
}

std::string view_name(const data::EvalTransform& t) {
  return t.view == data::EvalView::Whole ? "whole" : t.view == data::EvalView::CenterCrop ? "center" : "resize";
}

void run(TrainFlags t, DataFlags d, ClsFlags c, const CLI::App* cmd) {
  auto resumed = open_resume(t, "classification", cmd);
  if (resumed) {
    d = resumed->config.at("data").get<DataFlags>();
    c = resumed->config.at("cls").get<ClsFlags>();
  }
  require_out_and_data(t, d);

  auto dataset = data::load_classification(d.data, classification_layout(d));
  for (const auto& problem : dataset.skipped) std::cerr << "skipzoo: warning: skipped " << problem << "\n";
  const auto classes = static_cast<int64_t>(dataset.class_names.size());
  if (classes < 2) {
    throw UsageError("'" + d.data + "' has " + std::to_string(classes) +
                     " class: classification needs at least two class folders (nothing to learn)");
  }
  if (t.classes > 0 && t.classes != classes) {
    throw UsageError("--classes " + std::to_string(t.classes) + " but '" + d.data + "' has " + std::to_string(classes) +
                     " classes");
  }
  if (dataset.train.empty()) throw UsageError("no training images in '" + d.data + "'");
  std::cout << "data: " << dataset.train.size() << " training and " << dataset.val.size() << " validation images, "
            << classes << " classes\n";

  data::ClassificationSampling sampling;
  sampling.read = read_options(t.channels);
  sampling.crop.size = c.patch;
  sampling.crop.mode = c.crop == "rrc" ? data::TrainCrop::RandomResizedCrop : data::TrainCrop::RandomPatch;
  sampling.crop.padding = c.padding;
  sampling.crop.scale_min = c.scale_min;
  sampling.augment = parse_augment(t.augment, data::AugmentOptions::classification());
  sampling.cache_bytes = t.cache_mb * (int64_t{1} << 20);
  const auto input = resolve_input(t.norm, image_paths(dataset.train), sampling.read);
  const int64_t channels = input.channels;
  sampling.norm = input.norm;
  auto source = std::make_shared<data::ClassificationCrops>(dataset.train, sampling);

  auto model = make_model(t, classes, channels, "classification");
  LoaderSource batches(make_loader(source, t));

  const auto view = eval_transform(c);
  nlohmann::json metadata = {{"class_names", dataset.class_names},
                             {"normalization", normalization_json(sampling.norm, channels)},
                             {"patch", c.patch},
                             {"channels", t.channels},
                             {"eval_view", view_name(view)},
                             {"eval_resize", view.resize},
                             {"eval_crop", view.crop}};
  ClsTaskOptions task_options;
  task_options.val = dataset.val;
  task_options.class_names = dataset.class_names;
  task_options.inference.view = view;
  task_options.inference.crops = c.eval_crops;
  task_options.inference.norm = sampling.norm;
  task_options.inference.read = sampling.read;
  task_options.inference.batch = std::max<int64_t>(t.batch, 64);
  task_options.inference.workers = t.workers;
  task_options.label_smoothing = c.label_smoothing;
  task_options.metadata = metadata;
  ClsTask task(task_options);

  nlohmann::json config = {{"task", "classification"}, {"model", model_json(model)}, {"data", d},
                           {"train", t},               {"cls", c},                  {"metadata", metadata}};
  train_and_export(model, batches, task, t, config, resumed.get());
}

}  // namespace

void add_train_cls_command(CLI::App& train) {
  auto* cmd = train.add_subcommand("cls", "train a classifier on images of any size by patch sampling");
  auto t = std::make_shared<TrainFlags>();
  t->model = "resnet20";
  t->batch = 128;
  t->optimizer = "sgd";
  t->lr = 0.1;
  t->weight_decay = 5e-4;
  auto d = add_data_flags(cmd);
  add_train_flags(cmd, *t);
  auto c = std::make_shared<ClsFlags>();
  cmd->add_option("--patch", c->patch, "training crop size (square)")->capture_default_str()->check(CLI::Range(4, 8192));
  cmd->add_option("--crop", c->crop, "patch (a random window at native scale, smaller images padded) or rrc (random resized crop)")
      ->capture_default_str()
      ->check(CLI::IsMember({"patch", "rrc"}));
  cmd->add_option("--padding", c->padding, "patch mode: pad images by this many pixels first (CIFAR-style: 4)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--scale-min", c->scale_min, "rrc: smallest crop area share")->capture_default_str()->check(CLI::Range(0.01, 1.0));
  cmd->add_option("--eval-view", c->eval_view,
                  "validation view: auto (whole after --crop patch, resize after rrc), whole, center or resize")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "whole", "center", "resize"}));
  cmd->add_option("--resize", c->resize, "resize view: short side before the centre crop (default: patch * 8/7)")
      ->check(CLI::Range(1, 16384));
  cmd->add_option("--eval-crops", c->eval_crops, "validation: average over 1, 5 or 10 crops")
      ->capture_default_str()
      ->check(CLI::IsMember({1, 5, 10}));
  cmd->add_option("--label-smoothing", c->label_smoothing, "label smoothing of the cross-entropy")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.5));
  relax_for_resume(cmd);
  on_run(cmd, [t, d, c, cmd] { run(*t, *d, *c, cmd); });
}

}  // namespace skipzoo::app
