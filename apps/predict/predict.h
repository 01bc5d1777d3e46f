#pragma once
// What `predict` and `eval` share across tasks: flags, the list of input images, and the
// task-specific runners they dispatch to (the task comes from the checkpoint or .ts metadata).
#include <string>
#include <vector>

#include "engine/predictor.h"

namespace skipzoo::app {

struct PredictFlags {
  std::string model, input, out, device = "cpu";
  std::string layout = "auto";  // inputs (and an eager model's weights): auto, channels-last, contiguous
  bool optimize = false;        // .ts on CPU: freeze + optimize_for_inference in memory
  // segmentation
  int64_t tile = 0;             // 0: the run's tile size
  double overlap = -1;          // < 0: the run's overlap
  bool tta = false, probs = false, no_tile = false;
  // classification
  int64_t topk = 5;
  std::string json, csv;
  std::string view;             // "" : the run's evaluation view
  int64_t crops = 1;            // > 1: average over this many crops
};

struct EvalFlags {
  std::string model, data, json, device = "cpu", split = "auto";
  std::string layout = "auto";
  bool optimize = false, tta = false, no_tile = false, skip_bad = false;
  int64_t tile = 0;
  double overlap = -1;
  std::string out;              // optional folder for pictures (overlays, confusion matrix)
  std::string view;
  int64_t crops = 1;
  std::string mask_suffix;
};

// FILE, or every image under DIR (sorted, recursive); errors name what is wrong.
std::vector<std::string> input_images(const std::string& input);

// Output names for `images` listed from `input` (a folder or one file): each image's path below
// the folder without its extension ("x/a" for x/a.png), so outputs mirror the inputs and x/a.png
// and y/a.png stay apart. Images whose names would still collide (a.png and a.jpg) keep their
// extension ("a.png", "a.jpg"); a note on stderr lists them.
std::vector<std::string> output_stems(const std::vector<std::string>& images, const std::string& input);

// Each chooses the predictor's layout (--layout) for its input shape first.
void predict_segmentation(Predictor& p, const PredictFlags& f);
void eval_segmentation(Predictor& p, const EvalFlags& f);
void predict_classification(Predictor& p, const PredictFlags& f);
void eval_classification(Predictor& p, const EvalFlags& f);

}  // namespace skipzoo::app
