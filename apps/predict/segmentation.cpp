// `predict` and `eval` for segmentation models: whole images of any size, tiled by default.
#include <skipzoo/data.h>

#include <filesystem>
#include <iomanip>
#include <iostream>

#include "cli/cli.h"
#include "engine/progress.h"
#include "engine/run_files.h"
#include "engine/segmentation.h"
#include "predict/predict.h"

namespace skipzoo::app {

namespace fs = std::filesystem;

namespace {

// Reads images with the channel count the model expects (gray <-> RGB converted as trained).
data::ImageReadOptions meta_read(const Predictor& p) {
  data::ImageReadOptions read;
  read.channels = p.in_channels() == 1 ? data::Channels::Gray : data::Channels::RGB;
  if (p.in_channels() == 4) {
    read.channels = data::Channels::AsStored;
    read.keep_alpha = true;
  }
  return read;
}

SegInference inference_for(const Predictor& p, int64_t tile, double overlap, bool tta, bool no_tile) {
  SegInference inf;
  inf.tile.tile = tile > 0 ? tile : p.info.tile_side();
  inf.tile.overlap = overlap >= 0 ? overlap : p.info.overlap;
  inf.tile.flip_tta = tta;
  inf.tile.multiple = p.tile_multiple();
  inf.use_tiles = !no_tile;
  inf.norm = p.info.normalization;
  inf.read = meta_read(p);
  inf.device = p.device;
  return inf;
}

// Tiles of the run's size (or 512 x 512 for whole images): the shape the layout is timed on.
void use_layout(Predictor& p, const std::string& layout, const SegInference& inf) {
  const int64_t side = inf.use_tiles ? inf.tile.tile : 512;
  choose_layout(p, parse_layout(layout), {inf.use_tiles ? inf.tile.batch : 1, p.in_channels(), side, side});
  std::cerr << "layout: " << p.describe_layout() << "\n";
}

}  // namespace

void predict_segmentation(Predictor& p, const PredictFlags& f) {
  if (f.out.empty()) throw UsageError("segmentation predict needs --out DIR");
  const auto images = input_images(f.input);
  const auto stems = output_stems(images, f.input);
  const auto inference = inference_for(p, f.tile, f.overlap, f.tta, f.no_tile);
  use_layout(p, f.layout, inference);
  const auto mapping = p.info.mapping(p.classes());
  const auto names = p.info.names(p.classes());
  const fs::path out(f.out);
  for (const char* sub : {"masks", "overlays"}) fs::create_directories(out / sub);
  if (f.probs) fs::create_directories(out / "probs");
  Progress progress("predict", static_cast<int64_t>(images.size()), std::cout, stdout_is_tty());
  for (size_t i = 0; i < images.size(); ++i) {
    const auto image = data::read_image(images[i], inference.read);
    const auto logits = segment_image(p.forward, image, inference);
    const auto labels = data::tensor_to_labels(logits.argmax(0));
    const auto& stem = stems[i];
    if (fs::path(stem).has_parent_path()) {
      for (const char* sub : {"masks", "overlays", "probs"}) {
        if (f.probs || std::string(sub) != "probs") fs::create_directories(out / sub / fs::path(stem).parent_path());
      }
    }
    data::write_mask((out / "masks" / (stem + ".png")).string(), labels, mapping);
    data::write_image((out / "overlays" / (stem + ".png")).string(), overlay_labels(image, labels));
    if (f.probs) {
      // One 16-bit PNG per class: probability x 65535.
      auto probs = (logits.softmax(0) * 65535).round().to(torch::kInt32).contiguous();
      for (int64_t c = 0; c < probs.size(0); ++c) {
        cv::Mat m(static_cast<int>(probs.size(1)), static_cast<int>(probs.size(2)), CV_32S, probs[c].data_ptr());
        cv::Mat m16;
        m.convertTo(m16, CV_16U);
        data::write_image((out / "probs" / (stem + "_" + names[static_cast<size_t>(c)] + ".png")).string(), m16);
      }
    }
    progress.update(static_cast<int64_t>(i + 1), stem);
  }
  progress.finish(std::to_string(images.size()) + " images");
  std::cout << "wrote " << (out / "masks").string() << " (" << mapping.describe() << "), " << (out / "overlays").string()
            << (f.probs ? ", " + (out / "probs").string() : "") << "\n";
}

void eval_segmentation(Predictor& p, const EvalFlags& f) {
  const auto mapping = p.info.mapping(p.classes());
  data::SegmentationLayout layout;
  layout.mapping = mapping;
  layout.mask_suffix = f.mask_suffix;
  layout.split.val_fraction = 0;  // without train/ and val/ folders, every image is evaluated
  layout.check.skip_bad = f.skip_bad;
  auto dataset = data::load_segmentation(f.data, layout);
  std::vector<data::SegmentationSample> samples;
  const std::string split = f.split == "auto" ? (dataset.explicit_split ? "val" : "all") : f.split;
  if (split == "val" || split == "all") samples.insert(samples.end(), dataset.val.begin(), dataset.val.end());
  if (split == "train" || split == "all") samples.insert(samples.end(), dataset.train.begin(), dataset.train.end());
  if (samples.empty()) throw data::DataError("no images to evaluate in '" + f.data + "' (split " + split + ")");

  const auto inference = inference_for(p, f.tile, f.overlap, f.tta, f.no_tile);
  use_layout(p, f.layout, inference);
  Progress progress("eval", static_cast<int64_t>(samples.size()), std::cout, stdout_is_tty());
  auto sink = [&](size_t i, const cv::Mat& image, const cv::Mat& truth, const cv::Mat& pred) {
    progress.update(static_cast<int64_t>(i + 1), "");
    if (f.out.empty()) return;
    fs::create_directories(fs::path(f.out) / "overlays");
    data::write_image((fs::path(f.out) / "overlays" / (fs::path(samples[i].image).stem().string() + ".png")).string(),
                      overlay_panel(image, truth, pred));
  };
  const auto cm = evaluate_segmentation(p.forward, samples, mapping, p.classes(), inference, sink);
  progress.finish(std::to_string(samples.size()) + " images");

  auto metrics = segmentation_metrics(cm);
  const auto names = p.info.names(p.classes());
  std::cout << std::left << std::setw(20) << "class" << std::right << std::setw(10) << "IoU" << std::setw(10) << "Dice"
            << "\n";
  for (size_t c = 0; c < names.size(); ++c) {
    auto cell = [](const nlohmann::json& v) {
      std::ostringstream s;
      if (v.is_null()) s << "-";
      else s << std::fixed << std::setprecision(4) << v.get<double>();
      return s.str();
    };
    std::cout << std::left << std::setw(20) << names[c] << std::right << std::setw(10) << cell(metrics["iou"][c])
              << std::setw(10) << cell(metrics["dice"][c]) << "\n";
  }
  std::cout << std::fixed << std::setprecision(4) << "mIoU " << cm.mean_iou() << "  mDice " << cm.mean_dice()
            << "  pixel accuracy " << cm.pixel_accuracy() << "  (" << samples.size() << " images, split " << split
            << ")\n";
  metrics["task"] = "segmentation";
  metrics["class_names"] = names;
  metrics["images"] = samples.size();
  metrics["model"] = p.path;
  metrics["data"] = f.data;
  metrics["split"] = split;
  if (!f.json.empty()) write_json(f.json, metrics);
}

}  // namespace skipzoo::app
