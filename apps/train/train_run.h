#pragma once
// The one `skipzoo train <task>` command: resuming, the input channels and normalisation, the
// model, the loader, config.json, training, the export and the summary are shared; a task
// (segmentation.cpp, classification.cpp) adds only its dataset, samples, loss and validation,
// and its deployment record.
#include <nlohmann/json.hpp>
#include <skipzoo/data/deploy.h>
#include <skipzoo/data/image.h>
#include <skipzoo/data/loader.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/trainer.h"
#include "train/train_flags.h"

namespace skipzoo::app {

// What the network sees: one channel count for the whole data set and the normalisation.
struct RunInput {
  data::ImageReadOptions read;  // every image (train, val, predict) is read with this
  int64_t channels = 0;
  data::Normalization norm;
  int64_t input_multiple = 1;  // the model's (models::input_multiple): validation tiles shrink to it
};

class TrainTask {
 public:
  virtual ~TrainTask() = default;
  virtual std::string name() const = 0;                   // "segmentation" or "classification"
  virtual nlohmann::json flags() const = 0;               // its own flags, for config.json
  virtual void restore_flags(const nlohmann::json& j) = 0;  // from config.json, for --resume
  // Reads the dataset (may print what it found); then the three below answer.
  virtual void load(const DataFlags& data) = 0;
  virtual std::vector<std::string> train_images() const = 0;
  virtual int64_t classes() const = 0;
  virtual bool colour() const = 0;  // some image of the data set has colour
  // With the input resolved: the training samples, the loss and validation, the deployment record.
  virtual std::shared_ptr<const data::SampleSource> samples(const RunFlags& run, const RunInput& input) = 0;
  virtual std::unique_ptr<TaskHooks> hooks(const RunFlags& run, const RunInput& input) = 0;
  virtual data::DeployInfo deploy(const RunFlags& run, const RunInput& input) const = 0;
};

// Runs `skipzoo train <task>` with the parsed flags (or, with --resume, the run's own).
void run_training(TrainTask& task, RunFlags run, TrainOptions train, DataFlags data, const CLI::App* cmd);

// --data is required unless --resume is given: checked by run_training, not by CLI11.
void relax_for_resume(CLI::App* cmd);

// One channel count for a whole data set (train, val, and later predict and eval): `--channels
// gray|rgb` as asked; `auto` takes RGB if any image has colour, gray if all are gray.
data::ImageReadOptions channel_policy(const std::string& channels, bool any_colour);

}  // namespace skipzoo::app
