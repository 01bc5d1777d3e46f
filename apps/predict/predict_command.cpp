// `skipzoo predict` and `skipzoo eval`: the task comes from the checkpoint or the .ts metadata.
#include <skipzoo/data/error.h>
#include <skipzoo/data/image.h>
#include <skipzoo/data/layout.h>

#include <filesystem>
#include <iostream>
#include <map>

#include "cli/cli.h"
#include "predict/predict.h"

namespace skipzoo::app {

namespace fs = std::filesystem;

std::vector<std::string> input_images(const std::string& input) {
  std::error_code ec;
  if (fs::is_directory(input, ec)) {
    std::vector<std::string> problems;
    auto images = data::list_images(input, problems);
    for (const auto& p : problems) std::cerr << "skipzoo: warning: " << p << "\n";
    if (images.empty()) throw data::DataError("no images in '" + input + "'");
    return images;
  }
  if (!fs::exists(input, ec)) throw UsageError("input '" + input + "' does not exist");
  return {input};
}

std::vector<std::string> output_stems(const std::vector<std::string>& images, const std::string& input) {
  std::error_code ec;
  const bool folder = fs::is_directory(input, ec);
  std::vector<std::string> stems;
  std::map<std::string, int> uses;
  for (const auto& image : images) {
    const auto rel = folder ? fs::path(image).lexically_relative(input) : fs::path(image).filename();
    stems.push_back(rel.parent_path().empty() ? rel.stem().string() : (rel.parent_path() / rel.stem()).string());
    ++uses[stems.back()];
  }
  std::vector<std::string> renamed;
  for (size_t i = 0; i < images.size(); ++i) {
    if (uses[stems[i]] < 2) continue;
    const auto rel = folder ? fs::path(images[i]).lexically_relative(input) : fs::path(images[i]).filename();
    stems[i] = rel.string();
    renamed.push_back(rel.string());
  }
  if (!renamed.empty()) {
    std::cerr << "note: " << renamed.size() << " images share a name up to their extension; their outputs keep it:";
    for (const auto& name : renamed) std::cerr << " " << name;
    std::cerr << "\n";
  }
  return stems;
}

namespace {

void add_model_flags(CLI::App* cmd, std::string& model, std::string& device, bool& optimize, std::string& layout) {
  cmd->add_option("--model", model, "RUN_DIR, RUN_DIR/best.ckpt (any run checkpoint) or an exported FILE.ts")->required();
  cmd->add_option("--device", device, "cpu or cuda")->capture_default_str()->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_flag("--optimize", optimize, "for a .ts on CPU: freeze and optimize for inference in memory first (faster)");
  cmd->add_option("--layout", layout,
                  "input layout: auto (time a forward pass in each on this machine, keep the faster; cached), "
                  "channels-last or contiguous")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "channels-last", "contiguous"}));
}

void add_tile_flags(CLI::App* cmd, int64_t& tile, double& overlap, bool& tta, bool& no_tile) {
  cmd->add_option("--tile", tile,
                  "segmentation: sliding-window tile size (default: the run's; smaller images get tiles of "
                  "their own size rounded up to the model's input multiple)")
      ->check(CLI::Range(8, 8192));
  cmd->add_option("--overlap", overlap, "segmentation: tile overlap (default: the run's, usually 0.5)")
      ->check(CLI::Range(0.0, 0.95));
  cmd->add_flag("--tta", tta, "segmentation: average the four flips (test-time augmentation)");
  cmd->add_flag("--no-tile", no_tile, "segmentation: whole images in one pass instead of tiles");
}

void add_view_flags(CLI::App* cmd, std::string& view, int64_t& crops) {
  cmd->add_option("--view", view,
                  "classification view: center (crop), resize (short side, then centre crop) or whole "
                  "(default: the run's)")
      ->check(CLI::IsMember({"center", "resize", "whole"}));
  cmd->add_option("--crops", crops, "classification: average over this many crops (1, 5 or 10: corners+centre, flipped)")
      ->capture_default_str()
      ->check(CLI::IsMember({1, 5, 10}));
}

}  // namespace

void add_predict_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("predict", "predict images with a trained model (checkpoint or .ts)");
  auto f = std::make_shared<PredictFlags>();
  add_model_flags(cmd, f->model, f->device, f->optimize, f->layout);
  cmd->add_option("--input", f->input, "an image file or a folder of images")->required();
  cmd->add_option("--out", f->out, "output folder (segmentation: masks/, overlays/, probs/)");
  add_tile_flags(cmd, f->tile, f->overlap, f->tta, f->no_tile);
  cmd->add_flag("--probs", f->probs, "segmentation: also write per-class probability maps (16-bit PNG)");
  cmd->add_option("--topk", f->topk, "classification: classes listed per image")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--json", f->json, "classification: write the predictions as JSON");
  cmd->add_option("--csv", f->csv, "classification: write the predictions as CSV");
  add_view_flags(cmd, f->view, f->crops);
  on_run(cmd, [f] {
    auto p = load_predictor(f->model, f->device, f->optimize);
    if (p.task == "segmentation") predict_segmentation(p, *f);
    else if (p.task == "classification") predict_classification(p, *f);
    else throw UsageError("'" + f->model + "' is a " + p.task + " model: predict handles segmentation and classification");
  });
}

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "evaluate a trained model (checkpoint or .ts) on a labelled dataset");
  auto f = std::make_shared<EvalFlags>();
  add_model_flags(cmd, f->model, f->device, f->optimize, f->layout);
  cmd->add_option("--data", f->data, "dataset folder in the training layout")->required();
  cmd->add_option("--split", f->split, "auto (val/ if the dataset has train/ and val/, else every image), val, train or all")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "val", "train", "all"}));
  cmd->add_option("--json", f->json, "write the metrics as JSON");
  cmd->add_option("--out", f->out, "folder for pictures (segmentation overlays, confusion matrix)");
  cmd->add_option("--mask-suffix", f->mask_suffix, "segmentation: suffix of mask file stems")->capture_default_str();
  cmd->add_flag("--skip-bad", f->skip_bad, "warn about bad files and go on without them");
  add_tile_flags(cmd, f->tile, f->overlap, f->tta, f->no_tile);
  add_view_flags(cmd, f->view, f->crops);
  on_run(cmd, [f] {
    auto p = load_predictor(f->model, f->device, f->optimize);
    const bool seg_data = data::is_segmentation_layout(f->data);
    if (p.task == "segmentation") {
      if (!seg_data) throw UsageError("'" + f->model + "' is a segmentation model but '" + f->data +
                                      "' is not a segmentation dataset (images/ and masks/)");
      eval_segmentation(p, *f);
    } else if (p.task == "classification") {
      if (seg_data) throw UsageError("'" + f->model + "' is a classification model but '" + f->data +
                                     "' is a segmentation dataset (images/ and masks/)");
      eval_classification(p, *f);
    } else {
      throw UsageError("'" + f->model + "' is a " + p.task + " model: eval handles segmentation and classification");
    }
  });
}

}  // namespace skipzoo::app
