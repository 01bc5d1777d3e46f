// `skipzoo train cls`: classification on images of any size, trained on random patches (or
// random-resized crops) and validated through an evaluation view. The task half of the one
// training command (train_run.h).
#include <skipzoo/data.h>

#include <iostream>

#include "cli/cli.h"
#include "engine/tasks.h"
#include "train/train_flags.h"
#include "train/train_run.h"

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
  t.view = data::parse_eval_view(c.eval_view == "auto" ? (c.crop == "rrc" ? "resize" : "whole") : c.eval_view);
  t.crop = c.patch;
  t.resize = c.resize > 0 ? c.resize : c.patch * 8 / 7;
  return t;
}

class Classification : public TrainTask {
 public:
  explicit Classification(ClsFlags flags) : c_(std::move(flags)) {}
  std::string name() const override { return "classification"; }
  nlohmann::json flags() const override { return c_; }
  void restore_flags(const nlohmann::json& j) override { c_ = j.get<ClsFlags>(); }

  void load(const DataFlags& d) override {
    dataset_ = data::load_classification(d.data, classification_layout(d));
    for (const auto& problem : dataset_.skipped) std::cerr << "skipzoo: warning: skipped " << problem << "\n";
    if (classes() < 2) {
      throw data::DataError("'" + d.data + "' has " + std::to_string(classes()) +
                       " class: classification needs at least two class folders (nothing to learn)");
    }
    if (dataset_.train.empty()) throw data::DataError("no training images in '" + d.data + "'");
    std::cout << "data: " << dataset_.train.size() << " training and " << dataset_.val.size()
              << " validation images, " << classes() << " classes\n";
  }
  std::vector<std::string> train_images() const override {
    std::vector<std::string> paths;
    for (const auto& sample : dataset_.train) paths.push_back(sample.image);
    return paths;
  }
  int64_t classes() const override { return static_cast<int64_t>(dataset_.class_names.size()); }
  bool colour() const override { return dataset_.colour; }

  std::shared_ptr<const data::SampleSource> samples(const RunFlags& r, const RunInput& in) override {
    data::ClassificationSampling sampling;
    sampling.read = in.read;
    sampling.norm = in.norm;
    sampling.crop.size = c_.patch;
    sampling.crop.mode = c_.crop == "rrc" ? data::TrainCrop::RandomResizedCrop : data::TrainCrop::RandomPatch;
    sampling.crop.padding = c_.padding;
    sampling.crop.scale_min = c_.scale_min;
    sampling.augment = parse_augment(r.augment, data::AugmentOptions::classification());
    sampling.cache_bytes = r.cache_mb * (int64_t{1} << 20);
    return std::make_shared<data::ClassificationCrops>(dataset_.train, sampling);
  }

  std::unique_ptr<TaskHooks> hooks(const RunFlags& r, const RunInput& in) override {
    ClsTaskOptions o;
    o.val = dataset_.val;
    o.class_names = dataset_.class_names;
    o.inference.view = eval_transform(c_);
    o.inference.crops = c_.eval_crops;
    o.inference.norm = in.norm;
    o.inference.read = in.read;
    o.inference.batch = std::max<int64_t>(r.batch, 64);
    o.inference.workers = r.workers;
    o.label_smoothing = c_.label_smoothing;
    return std::make_unique<ClsTask>(o);
  }

  data::DeployInfo deploy(const RunFlags&, const RunInput& in) const override {
    data::DeployInfo info;
    info.class_names = dataset_.class_names;
    info.normalization = in.norm;
    info.patch = {c_.patch, c_.patch};
    info.eval_view = eval_transform(c_);
    info.channels = in.channels == 1 ? "gray" : "rgb";
    return info;
  }

 private:
  ClsFlags c_;
  data::ClassificationDataset dataset_;
};

}  // namespace

void add_train_cls_command(CLI::App& train) {
  auto* cmd = train.add_subcommand("cls", "train a classifier on images of any size by patch sampling");
  auto r = std::make_shared<RunFlags>();
  auto t = std::make_shared<TrainOptions>();
  r->model = "resnet20";
  r->batch = 128;
  t->optimizer.kind = OptimizerKind::SGD;
  t->optimizer.lr = 0.1;
  t->optimizer.weight_decay = 5e-4;
  auto d = add_data_flags(cmd);
  add_train_flags(cmd, *r, *t);
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
  on_run(cmd, [r, t, d, c, cmd] {
    Classification task(*c);
    run_training(task, *r, *t, *d, cmd);
  });
}

}  // namespace skipzoo::app
