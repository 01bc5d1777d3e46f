#include "train_run.h"

#include <skipzoo/models/export.h>
#include <skipzoo/models/weights.h>

#include <filesystem>
#include <iostream>

#include "engine/predictor.h"
#include "engine/run_files.h"
#include "engine/tasks.h"

namespace skipzoo::app {

namespace fs = std::filesystem;

std::unique_ptr<Resumed> open_resume(TrainFlags& t, const std::string& task, const CLI::App* cmd) {
  if (t.resume.empty()) return nullptr;
  const auto path = (fs::path(t.resume) / "last.ckpt").string();
  auto r = std::make_unique<Resumed>();
  r->reader = std::make_unique<CheckpointReader>(path);
  try {
    r->config = nlohmann::json::parse(r->reader->state().config_json);
  } catch (const std::exception&) {
    throw UsageError("checkpoint '" + path + "': its configuration is not valid JSON");
  }
  if (r->config.value("task", "") != task) {
    throw UsageError("'" + path + "' is a " + r->config.value("task", std::string("unknown")) + " run, not " + task);
  }
  const auto keep = t;
  t = r->config.at("train").get<TrainFlags>();
  t.resume = keep.resume;
  t.out = keep.resume;
  t.workers = keep.workers;
  t.device = keep.device;
  if (cmd->count("--epochs") || cmd->count("--iters")) {
    t.epochs = keep.epochs;
    t.iters = keep.iters;
  }
  return r;
}

void relax_for_resume(CLI::App* cmd) { cmd->get_option("--data")->required(false); }

void require_out_and_data(const TrainFlags& t, const DataFlags& d) {
  if (t.out.empty()) throw UsageError("--out RUN_DIR is required (or --resume RUN_DIR)");
  if (d.data.empty()) throw UsageError("--data DIR is required");
}

models::Model make_model(const TrainFlags& t, int64_t classes, int64_t channels, const std::string& task) {
  auto model = models::create_model({t.model, classes, channels, t.options}, t.seed);
  if (model.task != task) {
    throw UsageError("--model " + t.model + " is a " + model.task + " model; this command trains a " + task + " model");
  }
  if (!t.weights.empty()) {
    models::LoadOptions load;
    if (t.skip_head) load.skip_prefixes = models::head_prefixes(model);
    auto report = models::load_weights(model.module(), t.weights, load);
    std::cout << "weights: " << report.loaded.size() << " tensors from " << t.weights
              << (report.skipped.empty() ? "" : ", head kept") << "\n";
  }
  return model;
}

nlohmann::json model_json(const models::Model& model) {
  return {{"name", model.config.name},
          {"classes", model.config.classes},
          {"in_channels", model.config.in_channels},
          {"options", nlohmann::json::parse(model.config.options)}};
}

RunInput resolve_input(const std::string& spec, const std::vector<std::string>& images,
                       const data::ImageReadOptions& read) {
  RunInput in;
  in.channels = data::read_image(images.front(), read).channels();
  in.norm = parse_normalization(spec, spec == "auto" ? estimate_normalization(images, read, in.channels)
                                                     : data::Normalization());
  try {
    in.norm.check(in.channels);
  } catch (const std::invalid_argument& e) {
    throw UsageError("--norm " + spec + ": " + e.what());
  }
  return in;
}

std::unique_ptr<data::Loader> make_loader(std::shared_ptr<const data::SampleSource> source, const TrainFlags& t) {
  data::LoaderOptions options;
  options.batch_size = t.batch;
  options.workers = t.workers;
  options.seed = t.seed;
  return std::make_unique<data::Loader>(std::move(source), options);
}

nlohmann::json normalization_json(const data::Normalization& norm, int64_t channels) {
  nlohmann::json mean = nlohmann::json::array(), std = nlohmann::json::array();
  for (int64_t c = 0; c < channels; ++c) {
    mean.push_back(norm.mean_of(c));
    std.push_back(norm.std_of(c));
  }
  return {{"mean", mean}, {"std", std}};
}

void train_and_export(models::Model& model, BatchSource& batches, TaskHooks& task, const TrainFlags& t,
                      const nlohmann::json& config, Resumed* resumed) {
  fs::create_directories(t.out);
  if (!resumed) write_json((fs::path(t.out) / "config.json").string(), config);
  Trainer trainer(model, batches, task, train_options(t), config, t.out);
  if (resumed) {
    trainer.resume(*resumed->reader);
    std::cout << "resuming " << t.out << " at epoch " << resumed->reader->state().epoch + 1 << ", batch "
              << resumed->reader->state().batch << " (step " << resumed->reader->state().step << " of "
              << trainer.total_steps() << ")\n";
  }
  const auto result = trainer.run();
  if (result.interrupted) {
    std::cout << "interrupted: state saved to " << (fs::path(t.out) / "last.ckpt").string()
              << "; continue with --resume " << t.out << "\n";
    throw ExitStatus{130};
  }
  const auto best = fs::path(t.out) / "best.ckpt";
  const auto source = fs::exists(best) ? best : fs::path(t.out) / "last.ckpt";
  if (!t.no_export) {
    export_checkpoint(source.string(), (fs::path(t.out) / "model.ts").string(), false);
  }
  std::cout << "done: " << result.steps_done << " steps";
  if (result.best_epoch > 0) {
    std::cout << ", best val " << task.main_metric() << " " << result.best_metric << " at epoch " << result.best_epoch;
  }
  std::cout << "\n  run directory: " << t.out << " (" << source.filename().string()
            << ", metrics.csv, curves.png" << (t.no_export ? "" : ", model.ts") << ")\n";
}

}  // namespace skipzoo::app
