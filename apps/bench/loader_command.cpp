// `skipzoo bench loader`: segmentation patches per second of the data loader. bench/loader_bench.py
// does the same work with a Python DataLoader; bench/run_loader_bench.sh compares them.
#include <skipzoo/data.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <iomanip>
#include <iostream>

#include "cli/cli.h"
#include "cli/data_flags.h"

namespace skipzoo::app {

namespace {
struct LoaderBench {
  int64_t patch = 256, batch = 8, batches = 50, warmup = 5, cache_mb = 0;
  int workers = 2;
  std::string augment = "full";
  bool json = false;
};

data::AugmentOptions augment_preset(const std::string& name) {
  if (name == "full") return data::AugmentOptions::full();
  if (name == "default") return data::AugmentOptions::segmentation();
  if (name == "off") return data::AugmentOptions::off();
  throw UsageError("--augment must be full, default or off");
}

}  // namespace

void add_bench_loader_command(CLI::App& bench_group) {
  auto* cmd = bench_group.add_subcommand("loader", "segmentation patches per second of the data loader (decode, sample, augment)");
  auto flags = add_data_flags(cmd);
  auto o = std::make_shared<LoaderBench>();
  cmd->add_option("--patch", o->patch, "patch side")->capture_default_str()->check(CLI::Range(8, 4096));
  cmd->add_option("--batch", o->batch, "patches per batch")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--workers", o->workers, "loader threads (0: in the consumer)")->capture_default_str()->check(CLI::Range(0, 256));
  cmd->add_option("--batches", o->batches, "timed batches")->capture_default_str()->check(CLI::Range(1, 1000000));
  cmd->add_option("--warmup", o->warmup, "untimed batches first")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--augment", o->augment, "full (every augmentation, probability 1), default, or off")->capture_default_str();
  cmd->add_option("--cache-mb", o->cache_mb, "decoded-image cache budget in MiB (0: decode every sample)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", o->json, "print one JSON object");
  on_run(cmd, [flags, o] {
    auto layout = segmentation_layout(*flags);
    layout.split.val_fraction = 0;  // every pair is a training pair here
    const auto set = data::load_segmentation(flags->data, layout);
    data::SegmentationSampling sampling;
    sampling.patch.size = o->patch;
    sampling.augment = augment_preset(o->augment);
    sampling.cache_bytes = o->cache_mb << 20;
    auto train = set.train;
    train.insert(train.end(), set.val.begin(), set.val.end());
    const auto images = static_cast<int64_t>(train.size());
    auto source = std::make_shared<data::SegmentationPatches>(std::move(train), set.mapping, sampling);
    data::LoaderOptions options;
    options.batch_size = o->batch;
    options.workers = o->workers;
    data::Loader loader(source, options);

    // Epochs follow one another until warm-up plus timed batches are done.
    int64_t epoch = 0, made = 0;
    auto take = [&](int64_t n) {
      data::Batch batch;
      for (int64_t i = 0; i < n; ++i) {
        while (!loader.next(batch)) loader.start_epoch(++epoch);
        ++made;
      }
    };
    take(o->warmup);
    const double wait_before = loader.wait_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    take(o->batches);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double rate = static_cast<double>(o->batches * o->batch) / seconds;
    if (o->json) {
      std::cout << nlohmann::json{{"implementation", "skipzoo"}, {"patches_per_s", rate},      {"workers", o->workers},
                                  {"patch", o->patch},             {"batch", o->batch},          {"batches", o->batches},
                                  {"augment", o->augment},         {"images", images},           {"seconds", seconds},
                                  {"wait_seconds", loader.wait_seconds() - wait_before}}
                       .dump()
                << "\n";
    } else {
      std::cout << std::fixed << std::setprecision(1) << "skipzoo loader: " << rate << " patches/s (" << o->workers
                << " workers, " << o->patch << "x" << o->patch << " patches, batch " << o->batch << ", augment "
                << o->augment << ", " << images << " images, " << o->batches << " batches in " << std::setprecision(2)
                << seconds << " s)\n";
    }
  });
}

}  // namespace skipzoo::app
