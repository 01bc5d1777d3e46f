// `skipzoo train seg`: segmentation on images of any size by patch sampling, validated on the
// full-size validation images through the sliding-window tiler. The task half of the one
// training command (train_run.h).
#include <skipzoo/data.h>

#include <algorithm>
#include <filesystem>
#include <cstdio>
#include <iostream>

#include "cli/cli.h"
#include "engine/run_files.h"
#include "engine/tasks.h"
#include "train/train_flags.h"
#include "train/train_run.h"

namespace skipzoo::app {

namespace fs = std::filesystem;

namespace {

struct SegFlags {
  int64_t patch = 256, patches_per_image = 1;
  double fg_fraction = 1.0 / 3.0;
  std::string pad = "constant";
  int64_t tile = 0;  // 0: data::default_tile(patch)
  double overlap = 0.5;
  bool val_tta = false;
  double dice_weight = 1.0;
  std::vector<double> class_weights;
  int64_t overlays = 4;
  std::string background = "auto";  // auto (the most frequent class), none, or a class id
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SegFlags, patch, patches_per_image, fg_fraction, pad, tile, overlap,
                                                val_tta, dice_weight, class_weights, overlays, background)

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

// The background class: left out of the Dice term and of foreground oversampling. `auto` takes
// the most frequent class of the training masks, which is not always class 0: EM membrane masks
// store membranes as 0 and the (far larger) cells as 255.
// `share`: each class's share of the labelled pixels (class_frequencies).
int64_t background_class(const std::string& spec, const std::vector<double>& share, const data::MaskMapping& mapping,
                         const std::vector<std::string>& names) {
  if (spec == "none") return -1;
  if (spec != "auto") {
    int64_t c = -1;
    try {
      size_t used = 0;
      c = std::stoll(spec, &used);
      if (used != spec.size()) c = -1;
    } catch (const std::exception&) {
    }
    if (c < 0 || c >= mapping.num_classes()) {
      throw UsageError("--background '" + spec + "': expected auto, none or a class id in 0.." +
                       std::to_string(mapping.num_classes() - 1));
    }
    return c;
  }
  const auto c = static_cast<int64_t>(std::max_element(share.begin(), share.end()) - share.begin());
  // Formatted apart: std::setprecision on std::cout would stay for every later number.
  char percent[16];
  std::snprintf(percent, sizeof percent, "%.1f", 100 * share[static_cast<size_t>(c)]);
  std::cout << "background: class " << c << " '" << names[static_cast<size_t>(c)] << "' (" << percent
            << "% of the labelled pixels)\n";
  return c;
}

class Segmentation : public TrainTask {
 public:
  explicit Segmentation(SegFlags flags) : s_(std::move(flags)) {}
  std::string name() const override { return "segmentation"; }
  nlohmann::json flags() const override { return s_; }
  void restore_flags(const nlohmann::json& j) override { s_ = j.get<SegFlags>(); }

  void load(const DataFlags& d) override {
    root_ = d.data;
    dataset_ = data::load_segmentation(d.data, segmentation_layout(d));
    for (const auto& problem : dataset_.skipped) std::cerr << "skipzoo: warning: skipped " << problem << "\n";
    for (const auto& warning : dataset_.warnings) std::cerr << "skipzoo: warning: " << warning << "\n";
    if (dataset_.train.empty()) throw data::DataError("no training images in '" + d.data + "'");
    std::cout << "data: " << dataset_.train.size() << " training and " << dataset_.val.size()
              << " validation images, " << dataset_.mapping.describe() << "\n";
    if (!s_.class_weights.empty() && static_cast<int64_t>(s_.class_weights.size()) != classes()) {
      throw UsageError("--class-weights needs " + std::to_string(classes()) + " values");
    }
    names_ = segmentation_class_names(root_, dataset_.mapping);
    background_ = background_class(s_.background, labelled_share(d.data), dataset_.mapping, names_);
  }
  // Each class's share of the training masks' labelled pixels. Masks that hold one class (all
  // background, or all ignore) would train a model with nothing to learn (loss 0, mIoU 1): refused.
  std::vector<double> labelled_share(const std::string& root) const {
    std::vector<std::string> masks;
    for (const auto& sample : dataset_.train) masks.push_back(sample.mask);
    const auto present = [](const std::vector<double>& share) {
      return std::count_if(share.begin(), share.end(), [](double v) { return v > 0; });
    };
    auto share = class_frequencies(masks, dataset_.mapping);  // up to 64 masks spread over the set
    if (present(share) < 2) share = class_frequencies(masks, dataset_.mapping, masks.size());  // every mask, to be sure
    if (present(share) < 2) {
      throw data::DataError("the training masks of '" + root + "' hold " +
                            (present(share) == 0 ? std::string("no labelled pixel (every value is ignored)")
                                                 : "one class only") +
                            " with " + dataset_.mapping.describe() +
                            ": nothing to segment. Name the values the masks use for each class, e.g. "
                            "--mask-values 0,255");
    }
    return share;
  }

  std::vector<std::string> train_images() const override {
    std::vector<std::string> paths;
    for (const auto& sample : dataset_.train) paths.push_back(sample.image);
    return paths;
  }
  int64_t classes() const override { return dataset_.mapping.num_classes(); }
  bool colour() const override { return dataset_.colour; }

  std::shared_ptr<const data::SampleSource> samples(const RunFlags& r, const RunInput& in) override {
    data::SegmentationSampling sampling;
    sampling.read = in.read;
    sampling.norm = in.norm;
    sampling.patch.size = s_.patch;
    sampling.patch.patches_per_image = s_.patches_per_image;
    sampling.patch.foreground_fraction = s_.fg_fraction;
    sampling.patch.background_class = background_;
    sampling.patch.pad = s_.pad == "reflect" ? data::PadMode::Reflect : data::PadMode::Constant;
    sampling.augment = parse_augment(r.augment, data::AugmentOptions::segmentation());
    sampling.cache_bytes = r.cache_mb * (int64_t{1} << 20);
    return std::make_shared<data::SegmentationPatches>(dataset_.train, dataset_.mapping, sampling);
  }

  std::unique_ptr<TaskHooks> hooks(const RunFlags&, const RunInput& in) override {
    SegTaskOptions o;
    o.val = dataset_.val;
    o.mapping = dataset_.mapping;
    o.classes = classes();
    o.inference.tile.tile = deploy_tile();
    o.inference.tile.overlap = s_.overlap;
    o.inference.tile.flip_tta = s_.val_tta;
    o.inference.tile.multiple = in.input_multiple;
    o.inference.norm = in.norm;
    o.inference.read = in.read;
    o.loss.dice_weight = s_.dice_weight;
    o.loss.background = background_;
    if (!s_.class_weights.empty()) o.loss.class_weights = torch::tensor(s_.class_weights, torch::kFloat);
    o.overlays = s_.overlays;
    return std::make_unique<SegTask>(o);
  }

  data::DeployInfo deploy(const RunFlags& r, const RunInput& in) const override {
    data::DeployInfo info;
    info.class_names = names_;
    info.normalization = in.norm;
    info.patch = {s_.patch, s_.patch};
    info.tile = {deploy_tile(), deploy_tile()};
    info.overlap = s_.overlap;
    info.mask_mapping = dataset_.mapping;
    info.channels = in.channels == 1 ? "gray" : "rgb";
    return info;
  }

 private:
  int64_t deploy_tile() const { return s_.tile > 0 ? s_.tile : data::default_tile(s_.patch); }

  SegFlags s_;
  std::string root_;
  data::SegmentationDataset dataset_;
  std::vector<std::string> names_;
  int64_t background_ = 0;
};

}  // namespace

void add_train_seg_command(CLI::App& train) {
  auto* cmd = train.add_subcommand("seg", "train a segmentation model on images of any size by patch sampling");
  auto r = std::make_shared<RunFlags>();
  auto t = std::make_shared<TrainOptions>();
  r->model = "unet";
  // The recipe that reached a given mIoU soonest per CPU-minute (docs/benchmarks.md, "Recipes
  // tried"): AdamW at 3e-3, 4 patches a step, flips and quarter turns only, and validation and
  // export of the weights' moving average (higher mIoU mid-run on both time-to-quality sets).
  r->batch = 4;
  r->augment = "light";
  t->optimizer.lr = 3e-3;
  t->weight_average = 0.99;
  auto d = add_data_flags(cmd);
  add_train_flags(cmd, *r, *t);
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
  cmd->add_option("--tile", s->tile, "validation and inference tile size (default: the patch size, at least 512; smaller "
                  "images get tiles of their own size rounded up to the model's input multiple)")
      ->check(CLI::Range(8, 8192));
  cmd->add_option("--overlap", s->overlap, "validation tile overlap")->capture_default_str()->check(CLI::Range(0.0, 0.95));
  cmd->add_flag("--val-tta", s->val_tta, "validate with flip test-time augmentation");
  cmd->add_option("--dice-weight", s->dice_weight, "weight of the soft Dice term (0: cross-entropy only)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--background", s->background,
                  "the class left out of the Dice loss and of foreground oversampling: auto (the most frequent class "
                  "of the training masks), none, or a class id")
      ->capture_default_str();
  cmd->add_option("--class-weights", s->class_weights, "cross-entropy class weights, one per class")->delimiter(',');
  cmd->add_option("--overlays", s->overlays, "validation images saved as image | truth | prediction per validation")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  relax_for_resume(cmd);
  on_run(cmd, [r, t, d, s, cmd] {
    Segmentation task(*s);
    run_training(task, *r, *t, *d, cmd);
  });
}

}  // namespace skipzoo::app
