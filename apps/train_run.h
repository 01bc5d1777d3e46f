#pragma once
// The steps every `skipzoo train <task>` shares around the engine: resuming a run, building
// the model, resolving normalisation, and training + exporting with a summary at the end.
#include <nlohmann/json.hpp>
#include <skipzoo/data/image.h>
#include <skipzoo/data/loader.h>
#include <skipzoo/models/registry.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/checkpoint.h"
#include "engine/trainer.h"
#include "train_flags.h"

namespace skipzoo::app {

struct Resumed {
  std::unique_ptr<CheckpointReader> reader;
  nlohmann::json config;
};

// With --resume DIR: opens DIR/last.ckpt, checks its task and replaces `t` by the run's own
// flags, keeping --resume, --workers and --device, and --epochs/--iters when `cmd` got them
// (to train a finished run longer). Returns null without --resume.
std::unique_ptr<Resumed> open_resume(TrainFlags& t, const std::string& task, const CLI::App* cmd);
// --data is required unless --resume is given: checked here, not by CLI11.
void relax_for_resume(CLI::App* cmd);
void require_out_and_data(const TrainFlags& t, const DataFlags& d);

// Creates --model (seeded), checks it does `task`, loads --weights.
models::Model make_model(const TrainFlags& t, int64_t classes, int64_t channels, const std::string& task);
nlohmann::json model_json(const models::Model& model);

// What the network sees: the channels of the first training image (as read) and --norm
// ("auto": estimated from `images`).
struct RunInput {
  int64_t channels = 0;
  data::Normalization norm;
};
RunInput resolve_input(const std::string& norm_spec, const std::vector<std::string>& images,
                       const data::ImageReadOptions& read);
template <typename Sample>
std::vector<std::string> image_paths(const std::vector<Sample>& samples) {
  std::vector<std::string> paths;
  for (const auto& sample : samples) paths.push_back(sample.image);
  return paths;
}

// The run's prefetching loader: --batch, --workers, --seed.
std::unique_ptr<data::Loader> make_loader(std::shared_ptr<const data::SampleSource> source, const TrainFlags& t);
nlohmann::json normalization_json(const data::Normalization& norm, int64_t channels);  // one value per channel

// Trains (or continues) the run, exports model.ts from best.ckpt (last.ckpt without a
// validation), prints where everything is. An interrupted run exits with status 130.
void train_and_export(models::Model& model, BatchSource& batches, TaskHooks& task, const TrainFlags& t,
                      const nlohmann::json& config, Resumed* resumed);

}  // namespace skipzoo::app
