// `predict` and `eval` for classifiers: any image size through the run's evaluation view.
#include <skipzoo/data.h>
#include <skipzoo/models/weights.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>

#include "cli/cli.h"
#include "engine/classification.h"
#include "engine/progress.h"
#include "engine/run_files.h"
#include "predict/predict.h"

namespace skipzoo::app {

namespace fs = std::filesystem;

namespace {

ClsInference inference_for(const Predictor& p, const std::string& view, int64_t crops) {
  ClsInference inf;
  inf.view = p.info.eval_transform();
  if (!view.empty()) inf.view.view = data::parse_eval_view(view);
  inf.crops = crops;
  inf.norm = p.info.normalization;
  inf.read.channels = p.in_channels() == 1 ? data::Channels::Gray : data::Channels::RGB;
  inf.device = p.device;
  return inf;
}

// The view's crop (whole images: one at a time at the crop size): the shape the layout is timed on.
void use_layout(Predictor& p, const std::string& layout, const ClsInference& inf) {
  const bool whole = inf.view.view == data::EvalView::Whole;
  choose_layout(p, parse_layout(layout), {whole ? 1 : inf.batch, p.in_channels(), inf.view.crop, inf.view.crop});
  std::cerr << "layout: " << p.describe_layout() << "\n";
}

std::string csv_escape(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char ch : s) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return out + "\"";
}


}  // namespace

void predict_classification(Predictor& p, const PredictFlags& f) {
  const auto images = input_images(f.input);
  const auto names = p.info.names(p.classes());
  const auto inference = inference_for(p, f.view, f.crops);
  use_layout(p, f.layout, inference);
  Progress progress("predict", static_cast<int64_t>(images.size()), std::cerr, false);
  const auto probs = classify_images(p.forward, images, inference, [&](int64_t done, int64_t) {
    if (images.size() > 50) progress.update(done, "");
  });
  const int64_t k = std::min<int64_t>(f.topk, probs.size(1));
  const auto [values, indices] = probs.topk(k, 1);
  nlohmann::json out = nlohmann::json::array();
  std::string csv = "image,rank,class,probability\n";
  for (size_t i = 0; i < images.size(); ++i) {
    nlohmann::json top = nlohmann::json::array();
    std::cout << images[i];
    for (int64_t r = 0; r < k; ++r) {
      const auto c = indices[i][r].item<int64_t>();
      const double prob = values[i][r].item<double>();
      top.push_back({{"class", names[c]}, {"index", c}, {"probability", prob}});
      csv += csv_escape(images[i]) + "," + std::to_string(r + 1) + "," + csv_escape(names[c]) + "," + std::to_string(prob) + "\n";
      std::cout << (r ? ", " : "  ") << names[c] << " " << std::fixed << std::setprecision(3) << prob;
    }
    std::cout << "\n";
    out.push_back({{"image", images[i]}, {"top", top}});
  }
  if (!f.json.empty()) write_json(f.json, out);
  if (!f.csv.empty()) write_text(f.csv, csv);
}

void eval_classification(Predictor& p, const EvalFlags& f) {
  const auto names = p.info.names(p.classes());
  data::ClassificationLayout layout;
  layout.split.val_fraction = 0;  // without train/ and val/ folders, every image is evaluated
  layout.check.skip_bad = f.skip_bad;
  auto dataset = data::load_classification(f.data, layout);
  // The dataset's folders are matched to the model's classes by name.
  std::map<std::string, int64_t> index;
  for (size_t c = 0; c < names.size(); ++c) index[names[c]] = static_cast<int64_t>(c);
  std::vector<int64_t> to_model;
  for (const auto& n : dataset.class_names) {
    auto it = index.find(n);
    if (it == index.end()) {
      throw UsageError("class folder '" + n + "' of '" + f.data + "' is not one of the model's classes");
    }
    to_model.push_back(it->second);
  }
  const std::string split = f.split == "auto" ? (dataset.explicit_split ? "val" : "all") : f.split;
  std::vector<data::ClassificationSample> samples;
  if (split == "val" || split == "all") samples.insert(samples.end(), dataset.val.begin(), dataset.val.end());
  if (split == "train" || split == "all") samples.insert(samples.end(), dataset.train.begin(), dataset.train.end());
  if (samples.empty()) throw UsageError("no images to evaluate in '" + f.data + "' (split " + split + ")");
  std::vector<std::string> images;
  std::vector<int64_t> labels;
  for (const auto& s : samples) {
    images.push_back(s.image);
    labels.push_back(to_model[static_cast<size_t>(s.label)]);
  }
  const auto inference = inference_for(p, f.view, f.crops);
  use_layout(p, f.layout, inference);
  Progress progress("eval", static_cast<int64_t>(images.size()), std::cout, stdout_is_tty());
  const auto probs = classify_images(p.forward, images, inference,
                                     [&](int64_t done, int64_t) { progress.update(done, ""); });
  progress.finish(std::to_string(images.size()) + " images");
  const auto truth = torch::tensor(labels, torch::kLong);
  auto metrics = classification_metrics(probs, truth, names);
  std::cout << std::left << std::setw(20) << "class" << std::right << std::setw(10) << "accuracy" << "\n";
  for (const auto& n : names) {
    const auto& v = metrics["per_class_acc"][n];
    std::cout << std::left << std::setw(20) << n << std::right << std::setw(10);
    if (v.is_null()) std::cout << "-";
    else std::cout << std::fixed << std::setprecision(4) << v.get<double>();
    std::cout << "\n";
  }
  std::cout << std::fixed << std::setprecision(4) << "top-1 " << metrics["top1"].get<double>() << "  top-5 "
            << metrics["top5"].get<double>() << "  (" << images.size() << " images, split " << split << ")\n";
  if (!f.out.empty()) {
    write_confusion(f.out, confusion_of(probs, truth, static_cast<int64_t>(names.size())), names);
    std::cout << "confusion matrix: " << (fs::path(f.out) / "confusion.png").string() << "\n";
  }
  metrics["task"] = "classification";
  metrics["model"] = p.path;
  metrics["data"] = f.data;
  metrics["split"] = split;
  if (!f.json.empty()) write_json(f.json, metrics);
}

}  // namespace skipzoo::app
