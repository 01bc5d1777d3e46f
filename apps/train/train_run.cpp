#include "train/train_run.h"

#include <skipzoo/models/export.h>
#include <skipzoo/models/weights.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/model_flags.h"
#include "engine/predictor.h"
#include "engine/progress.h"
#include "engine/run_files.h"
#include "engine/tasks.h"

namespace skipzoo::app {

namespace fs = std::filesystem;

namespace {

// With --resume DIR: DIR/last.ckpt's configuration replaces the flags, keeping --resume,
// --workers and --device, and --epochs/--iters/--time when given (to train a finished run
// longer). Returns the checkpoint, or null without --resume.
std::unique_ptr<CheckpointReader> open_resume(TrainTask& task, RunFlags& run, TrainOptions& train, DataFlags& data,
                                              const CLI::App* cmd) {
  if (run.resume.empty()) return nullptr;
  const auto path = (fs::path(run.resume) / "last.ckpt").string();
  auto reader = std::make_unique<CheckpointReader>(path);
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(reader->state().config_json);
    if (config.value("task", "") != task.name()) {
      throw UsageError("'" + path + "' is a " + config.value("task", std::string("unknown")) + " run, not " + task.name());
    }
    const auto keep_run = run;
    const auto keep_train = train;
    run = config.at("run").get<RunFlags>();
    train = config.at("train").get<TrainOptions>();
    data = config.at("data").get<DataFlags>();
    task.restore_flags(config.at("task_flags"));
    run.resume = run.out = keep_run.resume;
    run.workers = keep_run.workers;
    train.device = keep_train.device;
    train.layout_cache = keep_train.layout_cache;
    const bool sync_bn = train.distributed.sync_bn;  // changes the model's training; the rest is the launch's
    train.distributed = keep_train.distributed;
    train.distributed.sync_bn = sync_bn;
    if (cmd->count("--epochs") || cmd->count("--iters") || cmd->count("--time")) {
      train.epochs = keep_train.epochs;
      train.iters = keep_train.iters;
      train.time_budget = keep_train.time_budget;
    }
  } catch (const nlohmann::json::exception& e) {
    throw UsageError("checkpoint '" + path + "': its configuration cannot be read (" + std::string(e.what()) + ")");
  }
  return reader;
}

// Creates --model (seeded), checks it does `task`, loads --weights.
models::Model make_model(const RunFlags& r, int64_t classes, int64_t channels, const std::string& task) {
  auto model = create_model_from_flags({r.model, classes, channels, r.options}, r.seed);
  if (model.task != task) {
    throw UsageError("--model " + r.model + " is a " + model.task + " model; this command trains a " + task + " model");
  }
  if (!r.weights.empty()) {
    models::LoadOptions load;
    if (r.skip_head) load.skip_prefixes = models::head_prefixes(model);
    auto report = models::load_weights(model.module(), r.weights, load);
    std::cout << "weights: " << report.loaded.size() << " tensors from " << r.weights
              << (report.skipped.empty() ? "" : ", head kept") << "\n";
  }
  return model;
}

// --sync-bn: the model again with "norm": "manual" when it has torch::nn::BatchNorm layers (the
// same state dict and the same exports; config.json records "manual"), its BatchNorm layers then
// synchronised over the ranks.
models::Model with_synchronized_batch_norm(models::Model model, RunFlags r, int64_t classes, int64_t channels,
                                           const std::string& task, RankGroup& group) {
  bool torch_batch_norm = false;
  for (const auto& m : model.module().modules()) {
    torch_batch_norm = torch_batch_norm || dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get()) ||
                       dynamic_cast<torch::nn::BatchNorm1dImpl*>(m.get());
  }
  if (torch_batch_norm) {
    auto options = nlohmann::json::parse(r.options);
    options.erase("batchnorm");
    options["norm"] = "manual";
    r.options = options.dump();
    model = make_model(r, classes, channels, task);
  }
  const int layers = synchronize_batch_norm(model.module(), group);
  if (layers == 0) {
    std::cerr << "skipzoo: warning: --sync-bn: --model " << r.model << " has no BatchNorm layer to synchronise\n";
  } else {
    std::cout << "sync-bn: " << layers << " BatchNorm layers take their statistics over the " << group.world_size()
              << " ranks' batches\n";
  }
  return model;
}

nlohmann::json model_json(const models::Model& model) {
  return {{"name", model.config.name},
          {"classes", model.config.classes},
          {"in_channels", model.config.in_channels},
          {"options", nlohmann::json::parse(model.config.options)}};
}

// The channels and the normalisation (--norm; "auto": the training set's statistics).
RunInput resolve_input(const RunFlags& r, const TrainTask& task) {
  RunInput in;
  in.read = channel_policy(r.channels, task.colour());
  in.channels = in.read.channels == data::Channels::Gray ? 1 : 3;
  std::cout << "channels: " << (in.channels == 1 ? "gray" : "RGB")
            << (r.channels != "auto" ? " (--channels)" : task.colour() ? " (the data set has colour images)"
                                                                       : " (every image is gray)")
            << "\n";
  const auto images = task.train_images();
  in.norm = parse_normalization(r.norm, r.norm == "auto" ? estimate_normalization(images, in.read, in.channels)
                                                         : data::Normalization());
  try {
    in.norm.check(in.channels);
  } catch (const std::invalid_argument& e) {
    throw UsageError("--norm " + r.norm + ": " + e.what());
  }
  return in;
}

// Where the run's wall time went, summed over its epochs (metrics.csv has it per epoch);
// "other" is what no epoch saw: start-up, the layout measurement, the export.
void print_time_breakdown(const nlohmann::json& history, double total) {
  const std::vector<std::pair<const char*, const char*>> parts = {
      {"time_compute", "compute"},        {"time_data", "data wait"},          {"time_optimizer", "optimizer"},
      {"time_validation", "validation"}, {"time_checkpoint", "checkpoints"}, {"time_logging", "logging"}};
  double accounted = 0;
  std::string line;
  char text[64];
  for (const auto& [key, name] : parts) {
    double sum = 0;
    for (const auto& row : history) sum += row.value(key, 0.0);
    accounted += sum;
    std::snprintf(text, sizeof text, "%s%s %.1f s (%.0f%%)", line.empty() ? "" : ", ", name, sum, 100 * sum / total);
    line += text;
  }
  std::snprintf(text, sizeof text, ", other %.1f s", std::max(0.0, total - accounted));
  std::cout << "time: " << line << text << " of " << format_duration(total) << "\n";
}

}  // namespace

data::ImageReadOptions channel_policy(const std::string& channels, bool any_colour) {
  data::ImageReadOptions read;
  if (channels == "gray") read.channels = data::Channels::Gray;
  else if (channels == "rgb") read.channels = data::Channels::RGB;
  else if (channels == "auto") read.channels = any_colour ? data::Channels::RGB : data::Channels::Gray;
  else throw UsageError("--channels must be auto, gray or rgb, not '" + channels + "'");
  return read;
}

void relax_for_resume(CLI::App* cmd) { cmd->get_option("--data")->required(false); }

namespace {

// The command line after the program name, without --nproc (for the ranks --nproc starts).
std::vector<std::string> rank_arguments(bool& threads_given) {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  for (std::string arg; std::getline(in, arg, '\0');) args.push_back(arg);
  std::vector<std::string> out;
  threads_given = false;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      ++i;  // and its value
    } else if (args[i].rfind("--nproc=", 0) != 0) {
      threads_given = threads_given || args[i] == "--threads" || args[i].rfind("--threads=", 0) == 0;
      out.push_back(args[i]);
    }
  }
  return out;
}

// One process's share of the run: all of it, or one rank's (`group`).
void train_process(TrainTask& task, RunFlags run, TrainOptions train, DataFlags data, const CLI::App* cmd,
                   Distributed* group) {
  auto resumed = open_resume(task, run, train, data, cmd);
  if (run.out.empty()) throw UsageError("--out RUN_DIR is required (or --resume RUN_DIR)");
  if (data.data.empty()) throw UsageError("--data DIR is required");
  task.load(data);
  if (run.classes > 0 && run.classes != task.classes()) {
    throw UsageError("--classes " + std::to_string(run.classes) + " but the data set has " +
                     std::to_string(task.classes()) + " classes");
  }
  auto input = resolve_input(run, task);
  auto model = make_model(run, task.classes(), input.channels, task.name());
  if (group && train.distributed.sync_bn) {
    model = with_synchronized_batch_norm(std::move(model), run, task.classes(), input.channels, task.name(), *group);
  }
  input.input_multiple = models::input_multiple(model);
  data::LoaderOptions loader;
  loader.batch_size = run.batch;
  loader.workers = run.workers;
  loader.seed = run.seed;
  if (group) {
    if (run.batch % group->world_size() != 0) {
      throw UsageError("--batch " + std::to_string(run.batch) + " is the global batch: it must be a multiple of the " +
                       std::to_string(group->world_size()) + " ranks");
    }
    loader.rank = group->rank();
    loader.world_size = group->world_size();
  }
  const bool writer = !group || group->is_main();  // rank 0 alone writes the run directory
  LoaderSource batches(std::make_unique<data::Loader>(task.samples(run, input), loader));
  const auto hooks = task.hooks(run, input);
  const auto deploy = task.deploy(run, input);
  try {
    deploy.validate(task.classes(), input.channels);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  const nlohmann::json config = {{"task", task.name()},        {"model", model_json(model)}, {"data", data},
                                 {"run", run},                {"train", train},            {"task_flags", task.flags()},
                                 {"metadata", nlohmann::json::parse(deploy.to_json())}};

  // Before the first file of the run is written: one training per run directory.
  std::unique_ptr<RunLock> lock;
  if (writer) {
    fs::create_directories(run.out);
    lock = std::make_unique<RunLock>(run.out);
    if (const auto freed = remove_stale_temporaries(run.out)) {
      std::cout << "removed " << (freed + (1 << 20) - 1) / (1 << 20)
                << " MiB of half-written files an interrupted run left in " << run.out << "\n";
    }
  }
  if (group) {
    std::cout << "data-parallel: " << group->world_size() << " ranks, a global batch of " << run.batch << " ("
              << run.batch / group->world_size() << " per rank)\n";
  }
  Trainer trainer(model, batches, *hooks, train, config, run.out, group);
  if (resumed) {
    trainer.resume(*resumed);
    const auto& s = resumed->state();
    std::cout << "resuming " << run.out << " at epoch " << s.epoch + 1 << ", batch " << s.batch << " (step " << s.step;
    if (train.time_budget > 0) {
      std::cout << ", " << format_duration(s.elapsed) << " of the " << format_duration(train.time_budget)
                << " budget used)\n";
    } else {
      std::cout << " of " << trainer.total_steps() << ")\n";
    }
  }
  TrainResult result;
  try {
    trainer.prepare();  // the layout, recorded in config.json
    if (writer) write_json((fs::path(run.out) / "config.json").string(), trainer.config());
    result = trainer.run();
    // The ranks' last collective: from here rank 0 exports alone, and the others end.
    if (group) group->barrier();
  } catch (const c10::Error& e) {
    // BatchNorm needs two values per channel: one image whose maps shrink to 1x1 has one.
    if (std::string(e.what_without_backtrace()).find("more than 1 value per channel") == std::string::npos) throw;
    throw UsageError("--batch " + std::to_string(run.batch) + ": the model's BatchNorm sees a single value per channel "
                     "(one image whose feature maps shrink to 1x1); use --batch 2 or more, or larger inputs");
  }
  const double trained_at = process_seconds();
  if (result.interrupted) {
    std::cout << "interrupted: state saved to " << (fs::path(run.out) / "last.ckpt").string()
              << "; continue with --resume " << run.out << "\n";
    throw ExitStatus{130};
  }
  if (!writer) return;
  const auto best = fs::path(run.out) / "best.ckpt";
  const auto source = fs::exists(best) ? best : fs::path(run.out) / "last.ckpt";
  if (!run.no_export) export_checkpoint(source.string(), (fs::path(run.out) / "model.ts").string(), false);
  print_time_breakdown(read_json((fs::path(run.out) / "metrics.json").string()),
                       result.run_seconds + process_seconds() - trained_at);
  std::cout << "done: " << result.steps_done << " steps";
  if (result.best_epoch > 0) {
    std::cout << ", best val " << hooks->main_metric() << " " << result.best_metric << " at epoch " << result.best_epoch;
  }
  std::cout << "\n  run directory: " << run.out << " (" << source.filename().string() << ", metrics.csv, curves.png"
            << (run.no_export ? "" : ", model.ts") << ")\n";
}

}  // namespace

void run_training(TrainTask& task, RunFlags run, TrainOptions train, DataFlags data, const CLI::App* cmd) {
  LaunchEnv env;
  try {
    check_backend(train.distributed);
    env = launch_env([](const char* name) { return std::getenv(name); });
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  // Mistakes every rank would find: reported once, before any rank starts or joins.
  const int ranks = train.distributed.nproc > 1 ? train.distributed.nproc : env.world_size;
  if (ranks > 1 && run.resume.empty() && run.batch % ranks != 0) {
    throw UsageError("--batch " + std::to_string(run.batch) + " is the global batch: it must be a multiple of the " +
                     std::to_string(ranks) + " ranks");
  }
  if (train.distributed.nproc > 1) {
    bool threads_given = false;
    const auto args = rank_arguments(threads_given);
    throw ExitStatus{launch_local_ranks(train.distributed.nproc, args, threads_given, train.distributed.timeout_s + 10)};
  }
  if (!env.distributed()) return train_process(task, run, train, data, cmd, nullptr);
  std::unique_ptr<Distributed> group;
  try {
    group = Distributed::join(env, train.distributed);
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) +
                             " could not join the run: " + e.what());
  }
  if (!group->is_main()) std::cout.setstate(std::ios::badbit);  // rank 0 prints the progress
  run_rank(*group, [&] { train_process(task, run, train, data, cmd, group.get()); });
}

}  // namespace skipzoo::app
